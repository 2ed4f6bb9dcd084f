"""Modules: the guided upsamplers (mmengine's root ``MODELS``, where
``build_upsample_layer`` looks) and, where mmcv / mmdet / mmseg are
installed, CARAFE, the necks and pixel decoders (mmdet's ``MODELS``) and
decode heads (mmseg's). SAPA and the guided interface need mmengine alone."""
from importlib.util import find_spec

from .guided import (GuidedResize, GuidedUpsampler, build_guided_upsampler,
                     init_guided_upsamplers)
from .sapa import SAPA, SAPAB, SAPAG, SAPAI

__all__ = [
    'GuidedResize', 'GuidedUpsampler', 'SAPA', 'SAPAB', 'SAPAG', 'SAPAI',
    'build_guided_upsampler', 'init_guided_upsamplers'
]

if find_spec('mmcv') is not None:
    from .carafe import GuidedCARAFE  # noqa: F401
    __all__ += ['GuidedCARAFE']
if find_spec('mmdet') is not None:
    from .necks import GuidedFPN  # noqa: F401
    from .pixel_decoders import (  # noqa: F401
        GuidedMSDeformAttnPixelDecoder, GuidedPixelDecoder)
    __all__ += [
        'GuidedFPN', 'GuidedMSDeformAttnPixelDecoder', 'GuidedPixelDecoder'
    ]
if find_spec('mmseg') is not None:
    from .decode_heads import (  # noqa: F401
        GuidedMaskFormerHead, GuidedSegformerHead)
    __all__ += ['GuidedMaskFormerHead', 'GuidedSegformerHead']
