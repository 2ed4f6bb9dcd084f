"""Guided upsamplers, ``forward(x, guide)``, registered in mmengine's root
``MODELS`` (where ``mmcv.cnn.build_upsample_layer`` also looks) and built
from an ``upsample_cfg`` by :func:`build_guided_upsampler`. SAPA, IndexNet,
A2U and the fixed interpolations need mmengine alone; CARAFE needs mmcv."""
from importlib.util import find_spec

from .a2u import A2U
from .builder import build_guided_upsampler, init_guided_upsamplers
from .guided import EvenSizeUpsampler, GuidedUpsampler
from .indexnet import IndexNet
from .resize import GuidedResize
from .sapa import SAPA, SAPAB, SAPAG, SAPAI

__all__ = [
    'A2U', 'EvenSizeUpsampler', 'GuidedResize', 'GuidedUpsampler', 'IndexNet',
    'SAPA', 'SAPAB', 'SAPAG', 'SAPAI', 'build_guided_upsampler',
    'init_guided_upsamplers'
]

if find_spec('mmcv') is not None:
    from .carafe import GuidedCARAFE  # noqa: F401
    __all__ += ['GuidedCARAFE']
