"""Loader of the compiled kernels, ``sapa_mm._ext``.

Importing the extension registers its CPU (and, when compiled in, CUDA)
kernels for the ``sapa_mm::*`` ops with PyTorch's dispatcher. A missing
extension is not an error: :mod:`sapa_mm.ops.library` then backs the same ops
with the pure-PyTorch reference.
"""
import os
from typing import Optional

import torch  # noqa: F401  (the extension links against libtorch)

BUILD_HINT = ('build it with `pip install --no-build-isolation -e .` in the '
              'sapa-mm checkout (see the README, section Install)')

IMPORT_ERROR: Optional[ImportError] = None
if os.environ.get('SAPA_MM_DISABLE_EXT', '0') == '1':
    # Runs the pure-PyTorch fallback, e.g. to test it or to bisect a bug.
    _ext = None
    IMPORT_ERROR = ImportError('disabled by SAPA_MM_DISABLE_EXT=1')
else:
    try:
        from sapa_mm import _ext
    except ImportError as error:  # not built, or built for another torch
        _ext = None
        IMPORT_ERROR = error

#: Whether the compiled kernels are available.
HAS_EXT: bool = _ext is not None
#: Whether the compiled kernels include the CUDA backend.
EXT_HAS_CUDA: bool = HAS_EXT and _ext.with_cuda()
#: Whether the CPU kernels were compiled with OpenMP.
EXT_HAS_OPENMP: bool = HAS_EXT and _ext.with_openmp()


def has_kernels_for(device: torch.device) -> bool:
    """Whether the compiled extension has kernels for ``device``'s type."""
    if device.type == 'cpu':
        return HAS_EXT
    if device.type == 'cuda':
        return EXT_HAS_CUDA
    return False
