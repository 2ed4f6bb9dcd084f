"""Pure-PyTorch reference of the SAPA operators: the oracle every backend is
tested against. It calls no ``sapa_mm`` op (the fallbacks of those, where
the extension is missing, are in :mod:`.fallback`).

Layout is NCHW. Output point (i, j) of an (H, W) map is centred on low-res
point (floor(i * h / H), floor(j * w / W)) of an (h, w) map, and reads the
K x K window around it, zero-padded at the borders. The windows are built with
``F.unfold`` and gathered with integer indices, so the mapping is exact (an
exact 2x gives i // 2). Memory is O(B * C * K^2 * H * W): fine for an oracle,
not for training.
"""
from typing import Optional, Tuple

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


def channel_layer_norm(x: Tensor, weight: Optional[Tensor],
                       bias: Optional[Tensor], eps: float) -> Tensor:
    """``F.layer_norm`` over the channels of (B, C, H, W) x."""
    out = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], weight, bias, eps)
    return out.permute(0, 3, 1, 2)


def channel_linear(x: Tensor, weight: Tensor,
                   bias: Optional[Tensor] = None) -> Tensor:
    """``F.linear`` over the channels of (B, C, H, W) x: (B, D, H, W)."""
    return F.linear(x.permute(0, 2, 3, 1), weight, bias).permute(0, 3, 1, 2)


def sapa(query: Tensor, key: Tensor, value: Tensor,
         kernel_size: int) -> Tensor:
    """aggregate(softmax(similarity(query, key)), value)."""
    weights = similarity(query, key, kernel_size).softmax(dim=1)
    return aggregate(weights, value, kernel_size)
