"""The CUDA code path of the sapa_mm ops, run on CPU tensors.

The extension compiles the CUDA kernels a second time, for the host
(``ops/emulation/``): ``torch.ops.sapa_mm_cuda_emulation`` holds the sapa_mm
ops with the CUDA backend's glue and launchers, whose kernels run on the CPU
over the grid their launcher chose. Blocks run in parallel; the threads of a
block that synchronises run as fibers, so barriers are real; every global
access is bounds- and alignment-checked, every output element must be
written exactly once, and shared memory is checked for bounds, uninitialised
reads and races between barriers. Within :func:`cuda_emulation`, every
``sapa_mm`` op called on CPU tensors, by the functional API, the modules or
autograd, runs there instead of on the CPU kernels.

It tests the CUDA code on machines without a GPU. It cannot see the GPU's
rounding (fused multiply-adds, ``expf``), its memory model beyond barriers,
or timing.
"""
import contextlib
import os
from typing import Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .extension import HAS_EXT, _ext

#: Whether the extension was built with the CUDA emulation.
AVAILABLE: bool = HAS_EXT and _ext.with_cuda_emulation()
#: The kernel sets: SAPA_MM_CUDA_KERNELS's values ('fast' is its default).
KERNELS = ('fast', 'simple')

NAMESPACE = 'sapa_mm_cuda_emulation'


class _ToEmulatedOps(TorchDispatchMode):
    """Sends every sapa_mm op to its twin in the emulation's library."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace == 'sapa_mm':
            packet = getattr(getattr(torch.ops, NAMESPACE), func._opname)
            func = getattr(packet, func._overloadname)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def cuda_emulation(kernels: str = 'fast',
                   max_blocks: int = 0) -> Iterator[None]:
    """Runs the sapa_mm ops of the enclosed code on the emulated CUDA path.

    Args:
        kernels: 'fast' or 'simple', the CUDA kernel set (as
            ``SAPA_MM_CUDA_KERNELS``, which is set for the duration).
        max_blocks: caps every launch's grid (0: the launcher's own), so
            that small problems run the kernels' grid-stride loops.
    """
    if not AVAILABLE:
        raise RuntimeError(
            'sapa_mm: the CUDA emulation is not built (it needs the compiled '
            'extension on Linux with glibc; see the README, section Tests)')
    if kernels not in KERNELS:
        raise ValueError(f'kernels must be one of {KERNELS}, got {kernels!r}')
    previous = os.environ.get('SAPA_MM_CUDA_KERNELS')
    os.environ['SAPA_MM_CUDA_KERNELS'] = kernels
    _ext.set_emulation_max_blocks(max_blocks)
    try:
        with _ToEmulatedOps():
            yield
    finally:
        _ext.set_emulation_max_blocks(0)
        if previous is None:
            del os.environ['SAPA_MM_CUDA_KERNELS']
        else:
            os.environ['SAPA_MM_CUDA_KERNELS'] = previous


__all__ = ['AVAILABLE', 'KERNELS', 'cuda_emulation']
