"""LayerNorm over the channels of (B, C, H, W) features, folded into the op
that consumes it: SAPA-B/G's linear projections (queries and keys) and
SAPA-I's similarity.

Done literally on a planar (NCHW) feature, ``Linear(LayerNorm(x))`` needs a
channels-last copy of x, a normalised copy and the gradients of both, each as
large as x; for SAPA's high-res guide these copies cost more than the
upsampling itself. Folding the LayerNorm into the projection avoids them:
with per-point mean m and rstd s over channels, and W' = W diag(gamma),

    W LN(x) + b = s * (W' x - m * W' 1) + (W beta + b),

one GEMM over x as it lies in memory plus per-point statistics, both made
in one pass over x in float32/float64 (``sapa_mm::channel_stats_linear``).
The backward is two more GEMMs, for the parameters and for
dL/dxhat = W'^T dq, and the LayerNorm's backward over the latter
(``sapa_mm::channel_linear_norm_backward``, one pass that writes dL/dx once
for a planar x): no normalised copy either, and q is not kept. In
float16/bfloat16 the input is centred first (x - m), as W' x - m * W' 1
would cancel in low precision.

The projections return planar (B, D, H, W) tensors, which the SAPA kernels
read directly.

SAPA-I compares LN(query) with keys: as LN(query) has zero channel mean,
<LN(query)_p, k_t> = s_p <query_p, k_t - mean_c(k_t)>, so the similarities
are scaled instead of normalising the query, and the query's gradient is
written once, in place, rather than as two full-size terms that autograd
would add.
"""
from typing import Optional

import torch
from torch import Tensor

# library registers the sapa_mm ops on import.
from . import library  # noqa: F401


def _columns(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, H*W) view of x's memory, either format."""
    return x.flatten(2)


def channel_linear(x: Tensor, weight: Tensor,
                   bias: Optional[Tensor] = None) -> Tensor:
    """``F.linear`` over the channels of (B, C, H, W) x, without a
    channels-last copy: (B, D, H, W), planar."""
    # A batched GEMM over x as it lies in memory: matmul of a 2-D weight and
    # 3-D x folds the batch into the rows of a transposed contiguous copy
    # of x, forward and backward.
    weight = weight.to(x.dtype).expand(x.shape[0], -1, -1)
    out = torch.matmul(weight, _columns(x))
    if bias is not None:
        out = out + bias.to(x.dtype).unsqueeze(-1)
    # The channel count is explicit: -1 cannot be inferred for B = 0.
    return out.view(x.shape[0], weight.shape[1], *x.shape[2:])


def _stats_for_folding(x: Tensor, eps: float):
    """(x, mean, rstd) with channel_stats' (B, H, W) statistics. In
    float16/bfloat16, where folded terms such as W' x - m * W' 1 would
    cancel, x comes back centred and the mean as zeros."""
    mean, rstd = torch.ops.sapa_mm.channel_stats(x, eps)
    if x.dtype not in (torch.float32, torch.float64):
        x = x - mean.unsqueeze(1).to(x.dtype)
        mean = torch.zeros_like(mean)
    return x, mean, rstd


class _NormLinear(torch.autograd.Function):
    """weight @ LayerNorm(x) + bias over the channels of x; see the module
    docstring for the folding. Per-point tensors are (B, 1, H*W) and
    projections (B, D, H*W), planar like the GEMM W' @ x that makes them."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Optional[Tensor],
                norm_weight: Optional[Tensor], norm_bias: Optional[Tensor],
                eps: float) -> Tensor:
        # float32, or float64 for float64 x
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        B, C, H, W = x.shape
        w = weight.to(acc)
        gamma = norm_weight.to(acc) if norm_weight is not None else None
        w_eff = w * gamma if gamma is not None else w  # W' (D, C)
        shift = torch.zeros(w.shape[0], dtype=acc, device=x.device)
        if norm_bias is not None:
            shift += w @ norm_bias.to(acc)
        if bias is not None:
            shift += bias.to(acc)
        if x.dtype == acc:
            # The statistics and W' x in one pass over x.
            q, mean, rstd = torch.ops.sapa_mm.channel_stats_linear(
                x, w_eff, eps)
        else:
            x, mean, rstd = _stats_for_folding(x, eps)
            q = torch.matmul(w_eff.to(x.dtype), _columns(x)).to(acc)
        q = _columns(q)
        mean, rstd = mean.view(B, 1, H * W), rstd.view(B, 1, H * W)
        # s * (W' x - m * W' 1) + shift, in place.
        q.addcmul_(mean, w_eff.sum(1, keepdim=True), value=-1).mul_(rstd)
        q = q.add_(shift.unsqueeze(-1)).to(x.dtype)
        # q itself is not kept: the backward needs only x and its
        # statistics.
        ctx.save_for_backward(x, mean, rstd, w, gamma, norm_bias, w_eff)
        ctx.has_bias = bias is not None
        ctx.param_dtype = weight.dtype
        return q.view(B, w.shape[0], H, W)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, mean, rstd, w, gamma, beta, w_eff = ctx.saved_tensors
        B, C, H, W = x.shape
        acc = mean.dtype
        dq = _columns(grad)  # (B, D, n)
        # Parameters first, so that s * dq, their GEMM's operand, is freed
        # before the input's gradient, as large as x, is allocated.
        # q = s * (W' x - m * s_w) + shift with s_w = W' 1.
        s_dq = dq.to(acc) * rstd
        d_w_eff = torch.matmul(s_dq.to(x.dtype),
                               _columns(x).transpose(1, 2)).sum(0).to(acc)
        # A GEMV, where (s_dq * mean).sum() made a temporary as large as dq
        # (page faults included, a millisecond for the guide).
        d_s_w = -torch.matmul(s_dq, mean.transpose(1, 2)).sum((0, 2))
        del s_dq
        d_shift = dq.sum((0, 2), dtype=acc)
        g = gamma if gamma is not None else torch.ones_like(w[0])
        d_weight = d_w_eff * g + torch.outer(d_s_w, g)
        if beta is not None:
            d_weight += torch.outer(d_shift, beta.to(acc))
        d_gamma = d_beta = None
        if gamma is not None:
            d_gamma = (d_w_eff * w).sum(0) + w.t() @ d_s_w
        if beta is not None:
            d_beta = w.t() @ d_shift
        d_bias = d_shift if ctx.has_bias else None
        # Input: dL/dxhat = W'^T dq and the LayerNorm's backward over it,
        # in x's layout (fused for a planar x on the CPU).
        dx = None
        if ctx.needs_input_grad[0]:
            dx = torch.ops.sapa_mm.channel_linear_norm_backward(
                grad.to(x.dtype), w_eff, x, mean.view(B, H, W),
                rstd.view(B, H, W))
        return (dx, ) + tuple(
            None if t is None else t.to(ctx.param_dtype)
            for t in (d_weight, d_bias, d_gamma, d_beta)) + (None, )


def channel_norm_linear(x: Tensor,
                        weight: Tensor,
                        bias: Optional[Tensor] = None,
                        norm_weight: Optional[Tensor] = None,
                        norm_bias: Optional[Tensor] = None,
                        eps: float = 1e-5) -> Tensor:
    """``F.linear(F.layer_norm(x_c, (C,), norm_weight, norm_bias, eps),
    weight, bias)`` over the channels of (B, C, H, W) x, computed without a
    normalised or channels-last copy of x.

    Args:
        x: (B, C, H, W) feature, either memory format.
        weight: (D, C) projection.
        bias: (D,) projection bias.
        norm_weight, norm_bias: (C,) LayerNorm affine parameters, or None.
        eps: LayerNorm epsilon.

    Returns:
        (B, D, H, W), planar.
    """
    return _NormLinear.apply(x, weight, bias, norm_weight, norm_bias, eps)


class _ChannelNorm(torch.autograd.Function):
    """LayerNorm over the channels of x, without affine parameters, in x's
    memory format: no channels-last copy of x or of its gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, eps: float) -> Tensor:
        mean, rstd = torch.ops.sapa_mm.channel_stats(x, eps)
        out = x.to(mean.dtype) - mean.unsqueeze(1)
        out = out.mul_(rstd.unsqueeze(1)).to(x.dtype)
        ctx.save_for_backward(x, mean, rstd)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, mean, rstd = ctx.saved_tensors
        # A copy: autograd's grad may be shared with other consumers.
        dx = grad.clone(memory_format=torch.preserve_format)
        torch.ops.sapa_mm.channel_norm_backward_(dx, x, mean, rstd)
        return dx, None


def channel_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """``F.layer_norm`` without affine parameters over the channels of
    (B, C, H, W) x, in x's memory format (SAPA-I's LayerNorm of x).

    Args:
        x: (B, C, H, W) feature, either memory format.
        eps: LayerNorm epsilon.

    Returns:
        (B, C, H, W), the memory format of x.
    """
    return _ChannelNorm.apply(x, eps)


class _NormSimilarity(torch.autograd.Function):
    """rstd(query)_p * similarity(query, key)_p: the similarity of the
    LayerNormed query with keys of zero channel mean (see the module
    docstring); the K*K-channel result is channels-last."""

    @staticmethod
    def forward(ctx, query: Tensor, key: Tensor, kernel_size: int,
                eps: float) -> Tensor:
        # In low precision the centred key keeps a residual mean that the
        # query's mean would amplify: the query comes back centred too.
        query, mean, rstd = _stats_for_folding(query, eps)
        out = torch.ops.sapa_mm.similarity(query, key, kernel_size)
        out.mul_(rstd.unsqueeze(1).to(out.dtype))
        ctx.save_for_backward(query, key, mean, rstd)
        ctx.kernel_size = kernel_size
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        query, key, mean, rstd = ctx.saved_tensors
        s = rstd.unsqueeze(1)
        # d out / d key_t = sum_p grad * LN(query)_p; for the query, the
        # similarity's backward gives s * dL/dLN(query) (the key is centred),
        # from which the LayerNorm's backward makes dL/dquery in place.
        grad_query, grad_key = torch.ops.sapa_mm.similarity_backward(
            grad * s.to(grad.dtype), query, key, ctx.kernel_size,
            ctx.needs_input_grad[:2])
        if grad_query is not None:
            grad_query.div_(s.to(grad_query.dtype))
            torch.ops.sapa_mm.channel_norm_backward_(grad_query, query, mean,
                                                     rstd)
        return grad_query, grad_key, None, None


def channel_norm_similarity(query: Tensor,
                            key: Tensor,
                            kernel_size: int = 5,
                            eps: float = 1e-5) -> Tensor:
    """``similarity(LN(query), key)`` with LN a LayerNorm over the channels
    of query without affine parameters (SAPA-I's similarity), computed
    without a normalised copy of query.

    Args:
        query: (B, D, H, W) high-res queries, either memory format.
        key: (B, D, h, w) low-res keys.
        kernel_size: odd window size K.
        eps: LayerNorm epsilon.

    Returns:
        (B, K*K, H, W), channels-last.
    """
    # Centred keys make the folding exact for any key; for LN(x), SAPA-I's,
    # they are already centred, and this is a small low-res pass.
    key = key - key.mean(1, keepdim=True)
    return _NormSimilarity.apply(query, key, kernel_size, eps)


__all__ = [
    'channel_linear', 'channel_norm', 'channel_norm_linear',
    'channel_norm_similarity'
]
