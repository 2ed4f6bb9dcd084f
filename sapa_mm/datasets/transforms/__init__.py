"""Data transforms registered in mmseg's ``TRANSFORMS``: BTS's (depth) and
the Composition-1K pipeline's (matting)."""
from .fixed_crop import FixedCrop
from .matting import (
    CompositeFg,
    CropAroundUnknown,
    GenerateTrimap,
    HSVJitter,
    LoadMattingFiles,
    MattingFlip,
    MixForegrounds,
    PackMattingInputs,
    RandomAffine,
    ResizeForeground,
)
from .photometric_jitter import BTSPhotometricJitter

__all__ = [
    'BTSPhotometricJitter', 'CompositeFg', 'CropAroundUnknown', 'FixedCrop',
    'GenerateTrimap', 'HSVJitter', 'LoadMattingFiles', 'MattingFlip',
    'MixForegrounds', 'PackMattingInputs', 'RandomAffine', 'ResizeForeground'
]
