"""Decode heads registered in mmseg's ``MODELS``."""
from .bts_head import BTSHead
from .guided_maskformer_head import GuidedMaskFormerHead
from .guided_segformer_head import GuidedSegformerHead
from .local_planar_guidance import LocalPlanarGuidance, local_planar_guidance

__all__ = [
    'BTSHead', 'GuidedMaskFormerHead', 'GuidedSegformerHead',
    'LocalPlanarGuidance', 'local_planar_guidance'
]
