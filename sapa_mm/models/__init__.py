"""Modules: the guided upsamplers (mmengine's root ``MODELS``, where
``build_upsample_layer`` looks) and, where mmcv / mmdet / mmseg are
installed, CARAFE, the necks and pixel decoders (mmdet's ``MODELS``) and
decode heads (mmseg's). SAPA, IndexNet, A2U and the guided interface need
mmengine alone (A2U's reassembly takes mmcv's CUDA op where mmcv is
installed)."""
from importlib.util import find_spec

from .a2u import A2U
from .guided import (GuidedResize, GuidedUpsampler, build_guided_upsampler,
                     init_guided_upsamplers)
from .indexnet import IndexNet
from .sapa import SAPA, SAPAB, SAPAG, SAPAI

__all__ = [
    'A2U', 'GuidedResize', 'GuidedUpsampler', 'IndexNet', 'SAPA', 'SAPAB',
    'SAPAG', 'SAPAI', 'build_guided_upsampler', 'init_guided_upsamplers'
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
