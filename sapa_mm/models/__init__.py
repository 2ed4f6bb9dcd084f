"""Modules: the guided upsamplers (mmengine's root ``MODELS``, where
``build_upsample_layer`` looks) and, where mmdet is installed, the necks
(mmdet's ``MODELS``)."""
from importlib.util import find_spec

from .guided import (GuidedCARAFE, GuidedResize, GuidedUpsampler,
                     build_guided_upsampler)
from .sapa import SAPA, SAPAB, SAPAG, SAPAI

__all__ = [
    'GuidedCARAFE', 'GuidedResize', 'GuidedUpsampler', 'SAPA', 'SAPAB',
    'SAPAG', 'SAPAI', 'build_guided_upsampler'
]

if find_spec('mmdet') is not None:
    from .necks import GuidedFPN  # noqa: F401
    __all__ += ['GuidedFPN']
