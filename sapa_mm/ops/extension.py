"""Loader of the compiled kernels, ``sapa_mm._ext``.

Importing the extension registers its CPU (and, when compiled in, CUDA)
kernels for the ``sapa_mm::*`` ops with PyTorch's dispatcher. A missing
extension is not an error: :mod:`sapa_mm.ops.library` then backs the same ops
with the pure-PyTorch reference, and says so. A GPU without CUDA kernels is
said at import, as it costs a GPU user their memory and time.
"""
import os
import warnings
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


if torch.cuda.is_available() and not EXT_HAS_CUDA:
    _why = (f'is not loaded ({IMPORT_ERROR})' if not HAS_EXT else
            'was built without CUDA kernels (the CUDA build failed or was '
            'skipped)')
    warnings.warn(
        f'sapa_mm: a CUDA GPU is visible but sapa_mm._ext {_why}: SAPA ops on '
        f'CUDA tensors run on the pure-PyTorch reference, which is slow and '
        f'needs O(C*K^2*H*W) memory. Rebuild on this machine with '
        f'`FORCE_CUDA=1 pip install --no-build-isolation -e .` (README, '
        f'section "Install on a GPU machine").',
        stacklevel=2)


def has_kernels_for(device: torch.device) -> bool:
    """Whether the compiled extension has kernels for ``device``'s type."""
    if device.type == 'cpu':
        return HAS_EXT
    if device.type == 'cuda':
        return EXT_HAS_CUDA
    return False
