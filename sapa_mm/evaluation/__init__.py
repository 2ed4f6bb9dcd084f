"""Metrics upstream lacks: Composition-1K's matting metrics (mmagic's
definitions, which cannot be imported here) as functions
(:mod:`.functional`, numpy and OpenCV only) and, where mmseg is installed,
as mmengine metrics in mmseg's ``METRICS`` (:mod:`.metrics`)."""
from importlib.util import find_spec

from .functional import (
    connectivity_error,
    gradient_error,
    mask_by_trimap,
    mse,
    sad,
)

__all__ = ['connectivity_error', 'gradient_error', 'mask_by_trimap', 'mse',
           'sad']

if find_spec('mmseg') is not None:
    from .metrics import (  # noqa: F401
        SAD,
        ConnectivityError,
        GradientError,
        MattingMSE,
    )
    __all__ += ['SAD', 'ConnectivityError', 'GradientError', 'MattingMSE']
