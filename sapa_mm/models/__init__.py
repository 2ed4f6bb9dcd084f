"""Modules registered in mmengine's root ``MODELS``: the guided upsamplers."""
from .guided import (GuidedCARAFE, GuidedResize, GuidedUpsampler,
                     build_guided_upsampler)
from .sapa import SAPA, SAPAB, SAPAG, SAPAI

__all__ = [
    'GuidedCARAFE', 'GuidedResize', 'GuidedUpsampler', 'SAPA', 'SAPAB',
    'SAPAG', 'SAPAI', 'build_guided_upsampler'
]
