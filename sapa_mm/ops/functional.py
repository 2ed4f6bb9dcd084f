"""The SAPA operators: one functional API over the compiled kernels and the
pure-PyTorch reference.

Inputs are (B, C, H, W) tensors of any memory format. The kernels read planar
(NCHW) and channels-last features alike, and give each result the memory
format of the input it corresponds to (``aggregate``'s that of ``value``);
the K*K-channel similarities are channels-last. Output point (i, j) of
the (H, W) map reads the K x K window, zero-padded, around low-res point
(floor(i * h / H), floor(j * w / W)); any (H, W) >= (h, w) works.

``backend`` chooses the implementation:

* ``None`` / ``'auto'``: the ``sapa_mm::*`` torch ops, which run the compiled
  kernels where they were built for the input's device and the reference
  otherwise (with a one-time warning);
* ``'extension'``: the compiled kernels, or ``NotImplementedError`` saying how
  to build them;
* ``'reference'``: plain PyTorch ops (``unfold`` + ``einsum``), the oracle.
"""
from typing import Optional, Sequence

import torch
from torch import Tensor

# library registers the sapa_mm ops on import.
from . import checks, library, reference  # noqa: F401
from .extension import BUILD_HINT, has_kernels_for

BACKENDS = ('auto', 'extension', 'reference')


def resolve_backend(backend: Optional[str], device: torch.device) -> str:
    """'auto', 'extension' or 'reference' for ``backend`` on ``device``;
    raises where it is unknown, or 'extension' has no kernels there."""
    backend = 'auto' if backend is None else backend
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS} or None, got '
                         f'{backend!r}')
    if backend == 'extension' and not has_kernels_for(device):
        raise NotImplementedError(
            f'backend="extension": sapa_mm has no compiled kernels for '
            f'{device.type} tensors; {BUILD_HINT}. Use backend="auto" to fall '
            f'back to the pure-PyTorch reference.')
    return backend


def similarity(query: Tensor,
               key: Tensor,
               kernel_size: int = 5,
               backend: Optional[str] = None) -> Tensor:
    """Dot products of each query with its low-res window of keys.

    Args:
        query: (B, D, H, W) high-res queries.
        key: (B, D, h, w) low-res keys, h <= H and w <= W.
        kernel_size: odd window size K.
        backend: see the module docstring.

    Returns:
        (B, K*K, H, W) similarities; taps in the zero padding are 0.
    """
    checks.check_similarity(query, key, kernel_size)
    if resolve_backend(backend, query.device) == 'reference':
        return reference.similarity(query, key, kernel_size)
    return torch.ops.sapa_mm.similarity(query, key, kernel_size)


def aggregate(weights: Tensor,
              value: Tensor,
              kernel_size: int = 5,
              backend: Optional[str] = None) -> Tensor:
    """Weighted sums of each output point's low-res window of values.

    Args:
        weights: (B, K*K, H, W) window weights (e.g. softmaxed similarities).
        value: (B, C, h, w) low-res values, h <= H and w <= W.
        kernel_size: odd window size K.
        backend: see the module docstring.

    Returns:
        (B, C, H, W) upsampled values, in value's memory format.
    """
    checks.check_aggregate(weights, value, kernel_size)
    if resolve_backend(backend, value.device) == 'reference':
        return reference.aggregate(weights, value, kernel_size)
    return torch.ops.sapa_mm.aggregate(weights, value, kernel_size)


def sapa(query: Tensor,
         key: Tensor,
         value: Tensor,
         kernel_size: int = 5,
         backend: Optional[str] = None) -> Tensor:
    """Similarity-aware upsampling: ``aggregate(softmax(similarity))``.

    Args:
        query: (B, D, H, W) high-res queries; the output takes their size.
        key: (B, D, h, w) low-res keys.
        value: (B, C, h, w) low-res values to upsample.
        kernel_size: odd window size K.
        backend: see the module docstring.

    Returns:
        (B, C, H, W), in value's memory format.
    """
    checks.check_sapa(query, key, value, kernel_size)
    backend = resolve_backend(backend, query.device)
    if backend == 'reference':
        return reference.sapa(query, key, value, kernel_size)
    # One op for the similarities and their softmax: the weights stay
    # channels-last, as aggregate reads them, and the softmax is
    # deterministic (ATen's CPU softmax backward over a last dim of K*K
    # depends on the thread count).
    weights = torch.ops.sapa_mm.similarity_softmax(query, key, kernel_size)
    return aggregate(weights, value, kernel_size, backend)


def nearest_upsample(x: Tensor,
                     size: Sequence[int],
                     backend: Optional[str] = None) -> Tensor:
    """Nearest upsampling of x (B, C, h, w) to ``size`` (H, W) >= (h, w)
    with the ops' mapping: output (i, j) reads (floor(i*h/H), floor(j*w/W)),
    i // 2 for an exact 2x.

    Its backward sums each low-res point's copies without atomics, so it is
    deterministic on every device (``index_select``'s CUDA backward is an
    atomic ``index_add_``): an integer ratio is a broadcast of each point
    over its s_h x s_w block, whose gradient is a sum over the block; any
    other ratio is ``aggregate`` with K=1 and unit weights, whose value
    gradient is the kernels' gather.

    Args:
        x: (B, C, h, w) feature.
        size: the output (H, W).
        backend: for the ``aggregate`` path; see the module docstring.

    Returns:
        (B, C, H, W), planar.
    """
    checks.check_feature('nearest_upsample', 'x', x)
    (h, w), (H, W) = x.shape[-2:], tuple(size)
    if not (0 < h <= H and 0 < w <= W):
        raise ValueError(f'nearest_upsample: size must be at least x\'s '
                         f'spatial size, got size={tuple(size)}, '
                         f'x.shape={tuple(x.shape)}')
    B, C = x.shape[:2]
    if H % h == 0 and W % w == 0:
        sh, sw = H // h, W // w
        return x[:, :, :, None, :, None].expand(B, C, h, sh, w, sw).reshape(
            B, C, H, W)
    weights = x.new_ones(1, 1, 1, 1).expand(B, 1, H, W)
    return aggregate(weights, x, 1, backend).contiguous()


__all__ = [
    'BACKENDS', 'resolve_backend', 'similarity', 'aggregate', 'sapa',
    'nearest_upsample'
]
