"""Pure-PyTorch reference of the SAPA operators: the oracle every backend is
tested against, and the fallback when the compiled kernels are missing.

Layout is NCHW. Output point (i, j) of an (H, W) map is centred on low-res
point (floor(i * h / H), floor(j * w / W)) of an (h, w) map, and reads the
K x K window around it, zero-padded at the borders. The windows are built with
``F.unfold`` and gathered with integer indices, so the mapping is exact (an
exact 2x gives i // 2). Memory is O(B * C * K^2 * H * W): fine for an oracle,
not for training.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def source_indices(out_size: int, in_size: int,
                   device: torch.device) -> Tensor:
    """floor(i * in_size / out_size) for every output index i."""
    return torch.arange(out_size, device=device) * in_size // out_size


def _windows(x: Tensor, kernel_size: int, out_size: Tuple[int, int]) -> Tensor:
    """(B, C, h, w) -> (B, C, K*K, H, W): the window of every output point."""
    B, C, h, w = x.shape
    H, W = out_size
    cols = F.unfold(x, kernel_size, padding=kernel_size // 2)
    cols = cols.view(B, C, kernel_size * kernel_size, h, w)
    cols = cols.index_select(3, source_indices(H, h, x.device))
    return cols.index_select(4, source_indices(W, w, x.device))


def _windows_transpose(windows: Tensor, kernel_size: int,
                       in_size: Tuple[int, int]) -> Tensor:
    """Adjoint of :func:`_windows`: (B, C, K*K, H, W) -> (B, C, h, w)."""
    B, C, KK, H, W = windows.shape
    h, w = in_size
    rows = windows.new_zeros(B, C, KK, h, W)
    rows.index_add_(3, source_indices(H, h, windows.device), windows)
    cols = windows.new_zeros(B, C, KK, h, w)
    cols.index_add_(4, source_indices(W, w, windows.device), rows)
    return F.fold(cols.view(B, C * KK, h * w), (h, w), kernel_size,
                  padding=kernel_size // 2)


def similarity(query: Tensor, key: Tensor, kernel_size: int) -> Tensor:
    """(B, D, H, W) x (B, D, h, w) -> (B, K*K, H, W) window dot products."""
    windows = _windows(key, kernel_size, query.shape[-2:])
    return torch.einsum('bdhw,bdkhw->bkhw', query, windows)


def aggregate(weights: Tensor, value: Tensor, kernel_size: int) -> Tensor:
    """(B, K*K, H, W) x (B, C, h, w) -> (B, C, H, W) weighted window sums."""
    windows = _windows(value, kernel_size, weights.shape[-2:])
    return torch.einsum('bkhw,bckhw->bchw', weights, windows)


def window_gather(weights: Tensor, x: Tensor, in_size: Tuple[int, int],
                  kernel_size: int) -> Tensor:
    """Transpose of :func:`aggregate` in ``value``: (B, K*K, H, W) x
    (B, C, H, W) -> (B, C, h, w), each low-res point summing the high-res
    points whose window reads it. It is the gradient of ``aggregate`` w.r.t.
    ``value`` and of ``similarity`` w.r.t. ``key``."""
    windows = torch.einsum('bkhw,bchw->bckhw', weights, x)
    return _windows_transpose(windows, kernel_size, in_size)


def channel_stats(x: Tensor, eps: float) -> Tuple[Tensor, Tensor]:
    """Mean and 1 / sqrt(var + eps) over the channels of (B, C, H, W) x:
    the statistics of a LayerNorm over channels, (B, H, W) each, in float32
    (float64 for float64 x)."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    var, mean = torch.var_mean(x.to(dtype), dim=1, unbiased=False)
    return mean, (var + eps).rsqrt()


def channel_stats_linear(x: Tensor, weight: Tensor,
                         eps: float) -> Tuple[Tensor, Tensor, Tensor]:
    """``channel_stats(x)`` and ``weight`` (D, C) applied over the channels
    of float32/float64 x: (B, D, H, W) planar, then the statistics."""
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f'channel_stats_linear: x must be float32 or float64, '
                        f'got {x.dtype}')
    if weight.dim() != 2 or weight.shape[1] != x.shape[1]:
        raise ValueError(f'channel_stats_linear: weight must be (D, '
                         f'{x.shape[1]}) for x {tuple(x.shape)}, got '
                         f'{tuple(weight.shape)}')
    B, _, H, W = x.shape
    out = torch.matmul(weight.to(x.dtype), x.flatten(2))
    return (out.view(B, weight.shape[0], H, W).contiguous(), ) + \
        channel_stats(x, eps)


def channel_norm_backward_(grad: Tensor, x: Tensor, mean: Tensor,
                           rstd: Tensor) -> None:
    """In place: ``grad``, the gradient of a LayerNorm over channels w.r.t.
    its normalised output xhat = rstd * (x - mean), becomes the gradient
    w.r.t. its input x; ``mean`` and ``rstd`` are ``channel_stats(x)``.

    dx = rstd * (g - mean_c(g)) - rstd^3 (x - mean) mean_c(g * (x - mean)),
    made without a full-size temporary: the products are summed over chunks
    of channels and the update is three in-place passes."""
    m, s = mean.unsqueeze(1), rstd.unsqueeze(1)
    C = x.shape[1]
    sum_g = grad.sum(1, keepdim=True, dtype=mean.dtype)
    sum_gx = torch.zeros_like(m)
    step = max(1, C // 8)
    for c0 in range(0, C, step):
        g, xc = grad[:, c0:c0 + step], x[:, c0:c0 + step]
        sum_gx += (g.to(mean.dtype) * (xc.to(mean.dtype) - m)).sum(
            1, keepdim=True)
    shift, x_coeff = sum_g / C, s**3 * sum_gx / C
    grad.mul_(s.to(grad.dtype)).addcmul_(x, (-x_coeff).to(grad.dtype))
    grad.add_((x_coeff * m - s * shift).to(grad.dtype))


def channel_linear_norm_backward(grad: Tensor, weight: Tensor, x: Tensor,
                                 mean: Tensor, rstd: Tensor) -> Tensor:
    """The gradient w.r.t. x of ``weight`` (D, C) applied over the channels
    of LayerNorm(x) (without affine; ``mean`` and ``rstd`` are
    ``channel_stats(x)``), from ``grad`` (B, D, H, W): dL/dxhat = weight^T
    grad, written in x's memory format by the GEMM, then
    ``channel_norm_backward_`` over it in place."""
    B, C, H, W = x.shape
    cols = grad.flatten(2).to(x.dtype)
    weight = weight.to(x.dtype)
    if x.is_contiguous(memory_format=torch.channels_last) and \
            not x.is_contiguous():
        dx = torch.matmul(cols.transpose(1, 2), weight).view(B, H, W, C)
        dx = dx.permute(0, 3, 1, 2)
    else:
        dx = torch.matmul(weight.t(), cols).view(B, C, H, W)
    torch.ops.sapa_mm.channel_norm_backward_(dx, x, mean, rstd)
    return dx


def sapa(query: Tensor, key: Tensor, value: Tensor,
         kernel_size: int) -> Tensor:
    """aggregate(softmax(similarity(query, key)), value)."""
    weights = similarity(query, key, kernel_size).softmax(dim=1)
    return aggregate(weights, value, kernel_size)
