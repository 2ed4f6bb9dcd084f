"""Kernels of the ``sapa_mm::*`` ops where the compiled extension has none:
composed of torch ops, registered by :mod:`.library`.

The window ops (similarity, aggregate and their backward passes) take the
reference's window sums (:mod:`.reference`, the oracle) in the memory formats
the kernels give, for machines without the extension or without its CUDA
kernels. The channel LayerNorm ops are composite everywhere but where the
extension has CPU kernels: off the CPU, these are fast enough.
"""
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch._prims_common import suggest_memory_format

from . import reference


def _channels_last(t: Tensor) -> Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def _like(t: Tensor, like: Tensor) -> Tensor:
    """t in the memory format the kernels give the result of input like."""
    return t.contiguous(memory_format=suggest_memory_format(like))


# The window ops: the reference's sums, in the kernels' output memory
# formats. The backward passes are composed exactly as in sapa_ops.h: window
# sums and their transposes, each computed only where output_mask asks for it
# (None otherwise).
def similarity(query: Tensor, key: Tensor,
                          kernel_size: int) -> Tensor:
    return _channels_last(reference.similarity(query, key, kernel_size))


def similarity_backward(
        grad: Tensor, query: Tensor, key: Tensor, kernel_size: int,
        output_mask: List[bool]) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    grad_query = grad_key = None
    if output_mask[0]:
        grad_query = _like(reference.aggregate(grad, key, kernel_size), query)
    if output_mask[1]:
        grad_key = _like(
            reference.window_gather(grad, query, key.shape[2:], kernel_size),
            key)
    return grad_query, grad_key


def similarity_softmax(query: Tensor, key: Tensor,
                                  kernel_size: int) -> Tensor:
    return _channels_last(
        reference.similarity(query, key, kernel_size).softmax(dim=1))


def similarity_softmax_backward(
        grad: Tensor, weights: Tensor, query: Tensor, key: Tensor,
        kernel_size: int,
        output_mask: List[bool]) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    grad_similarity = weights * (grad - (grad * weights).sum(1, keepdim=True))
    return similarity_backward(grad_similarity, query, key,
                                          kernel_size, output_mask)


def aggregate(weights: Tensor, value: Tensor,
                         kernel_size: int) -> Tensor:
    return _like(reference.aggregate(weights, value, kernel_size), value)


def aggregate_backward(
        grad: Tensor, weights: Tensor, value: Tensor, kernel_size: int,
        output_mask: List[bool]) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    grad_weights = grad_value = None
    if output_mask[0]:
        grad_weights = _channels_last(
            reference.similarity(grad, value, kernel_size))
    if output_mask[1]:
        grad_value = _like(
            reference.window_gather(weights, grad, value.shape[2:],
                                    kernel_size), value)
    return grad_weights, grad_value


#: Kernels of the window ops where the extension has none for a device.
WINDOW_KERNELS = {
    'similarity': similarity,
    'similarity_backward': similarity_backward,
    'similarity_softmax': similarity_softmax,
    'similarity_softmax_backward': similarity_softmax_backward,
    'aggregate': aggregate,
    'aggregate_backward': aggregate_backward,
}


# The channel LayerNorm ops.
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
