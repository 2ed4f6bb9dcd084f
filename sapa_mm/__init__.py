"""sapa-mm: SAPA upsamplers for OpenMMLab 2.x.

``import sapa_mm`` (or ``custom_imports=dict(imports=['sapa_mm'])`` in a
config) registers the SAPA upsamplers into mmengine's root ``MODELS``, where
``mmcv.cnn.build_upsample_layer`` finds them, and lets torch >= 2.6 load
mmengine's checkpoints with ``weights_only=True``. The operators in
:mod:`sapa_mm.ops` need torch alone; the SAPA modules need mmengine, CARAFE
mmcv, and the heads and necks mmseg / mmdet.
"""
from importlib.util import find_spec

from .ops import EXT_HAS_CUDA, HAS_EXT, aggregate, sapa, similarity
from .version import __version__

__all__ = [
    'EXT_HAS_CUDA', 'HAS_EXT', '__version__', 'aggregate', 'sapa',
    'similarity'
]

if find_spec('mmengine') is not None:
    from .engine import checkpoint  # noqa: F401  (mmengine checkpoints load safely)
    from .models import *  # noqa: F401,F403
    from .models import __all__ as _models_all
    __all__ += _models_all
if find_spec('mmseg') is not None:
    # Datasets, transforms and metrics of the depth and matting tables
    # (mmseg's registries).
    from . import evaluation  # noqa: F401
    from .datasets import comp1k_dataset, transforms  # noqa: F401
if find_spec('onnxscript') is not None and find_spec('onnx') is not None:
    # ONNX translations of the sapa_mm ops, for torch.onnx.export.
    from . import deploy  # noqa: F401
