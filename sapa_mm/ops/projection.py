"""Linear projections of the channels of (B, C, H, W) features, optionally
after a LayerNorm over channels: SAPA's queries and keys.

Done literally on a planar (NCHW) feature, ``Linear(LayerNorm(x))`` needs a
channels-last copy of x, a normalised copy and the gradients of both, each as
large as x; for SAPA's high-res guide these copies cost more than the
upsampling itself. Folding the LayerNorm into the projection avoids them:
with per-point mean m and rstd s over channels, and W' = W diag(gamma),

    W LN(x) + b = s * (W' x - m * W' 1) + (W beta + b),

one GEMM over x as it lies in memory plus per-point statistics
(``sapa_mm::channel_stats``). The backward is two more GEMMs and one in-place
pass, without a normalised copy either. In float16/bfloat16 the input is
centred first (x - m), as W' x - m * W' 1 would cancel in low precision.

The projections return planar (B, D, H, W) tensors (the GEMM W' @ x, which
is faster here than x^T W'^T), which the SAPA kernels read directly.
"""
from typing import Optional

import torch
from torch import Tensor

# library registers sapa_mm::channel_stats on import.
from . import library  # noqa: F401


def _columns(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, H*W) view of x's memory, either format."""
    return x.flatten(2)


def channel_linear(x: Tensor, weight: Tensor,
                   bias: Optional[Tensor] = None) -> Tensor:
    """``F.linear`` over the channels of (B, C, H, W) x, without a
    channels-last copy: (B, D, H, W), planar."""
    out = torch.matmul(weight.to(x.dtype), _columns(x))
    if bias is not None:
        out = out + bias.to(x.dtype).unsqueeze(-1)
    return out.view(x.shape[0], -1, *x.shape[2:])


class _NormLinear(torch.autograd.Function):
    """weight @ LayerNorm(x) + bias over the channels of x; see the module
    docstring for the folding. Per-point tensors are (B, 1, H*W) and
    projections (B, D, H*W), planar like the GEMM W' @ x that makes them."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Optional[Tensor],
                norm_weight: Optional[Tensor], norm_bias: Optional[Tensor],
                eps: float) -> Tensor:
        mean, rstd = torch.ops.sapa_mm.channel_stats(x, eps)
        acc = mean.dtype  # float32, or float64 for float64 x
        B, C, H, W = x.shape
        mean, rstd = mean.view(B, 1, H * W), rstd.view(B, 1, H * W)
        w = weight.to(acc)
        gamma = norm_weight.to(acc) if norm_weight is not None else None
        w_eff = w * gamma if gamma is not None else w  # W' (D, C)
        shift = torch.zeros(w.shape[0], dtype=acc, device=x.device)
        if norm_bias is not None:
            shift += w @ norm_bias.to(acc)
        if bias is not None:
            shift += bias.to(acc)
        centre = x.dtype not in (torch.float32, torch.float64)
        if centre:
            x = x - mean.view(B, 1, H, W).to(x.dtype)
            mean = torch.zeros_like(mean)
        q = torch.matmul(w_eff.to(x.dtype), _columns(x)).to(acc)
        # s * (W' x - m * W' 1) + shift, in place.
        q.addcmul_(mean, w_eff.sum(1, keepdim=True), value=-1).mul_(rstd)
        q = q.add_(shift.unsqueeze(-1)).to(x.dtype)
        ctx.save_for_backward(x, mean, rstd, w, gamma, norm_bias, w_eff,
                              shift, q)
        ctx.has_bias = bias is not None
        ctx.param_dtype = weight.dtype
        return q.view(B, -1, H, W)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, mean, rstd, w, gamma, beta, w_eff, shift, q = ctx.saved_tensors
        B, C, H, W = x.shape
        acc = mean.dtype
        dq = _columns(grad).to(acc)  # (B, D, n)
        # Per point, with xhat = s * (x - m) and dxhat = W'^T dq:
        # dx = s * (dxhat - mean_c(dxhat) - xhat * mean_c(dxhat * xhat)),
        # mean_c(dxhat) = <dq, W' 1> / C and, as W' xhat = q - shift,
        # mean_c(dxhat * xhat) = <dq, q - shift> / C: both D-sized.
        mean_dxhat = (w_eff.sum(1) @ dq) / C  # (B, n)
        mean_dxhat_xhat = ((dq * q).sum(1) - shift @ dq) / C
        r, m = rstd.squeeze(1), mean.squeeze(1)
        # dx = W'^T (s dq) + x * alpha + offset; the offset rides along in
        # the GEMM as one more row of its operand: rhs = [s dq; offset].
        alpha = -r * r * mean_dxhat_xhat
        rhs = dq.new_empty(B, dq.shape[1] + 1, H * W)
        s_dq = torch.mul(dq, rstd, out=rhs[:, :-1])
        rhs[:, -1] = r * r * m * mean_dxhat_xhat - r * mean_dxhat
        lhs = torch.cat([w_eff, w_eff.new_ones(1, C)]).t()  # (C, D+1)
        dx = torch.matmul(lhs.to(x.dtype), rhs.to(x.dtype))
        dx = dx.view(B, C, H, W)
        dx.addcmul_(x, alpha.view(B, 1, H, W).to(x.dtype))
        # Parameters: q = s * (W' x - m * s_w) + shift with s_w = W' 1.
        d_w_eff = torch.matmul(s_dq.to(x.dtype),
                               _columns(x).transpose(1, 2)).sum(0).to(acc)
        d_s_w = -(s_dq * mean).sum((0, 2))
        d_shift = dq.sum((0, 2))
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
        return (dx, ) + tuple(
            None if t is None else t.to(ctx.param_dtype)
            for t in (d_weight, d_bias, d_gamma, d_beta)) + (None, )


class _ChannelRstd(torch.autograd.Function):
    """1 / sqrt(var + eps) over the channels of x, (B, 1, H, W)."""

    @staticmethod
    def forward(ctx, x: Tensor, eps: float) -> Tensor:
        mean, rstd = torch.ops.sapa_mm.channel_stats(x, eps)
        ctx.save_for_backward(x, mean, rstd)
        return rstd.unsqueeze(1).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, mean, rstd = ctx.saved_tensors
        # d rstd / d x_c = -rstd^3 (x_c - mean) / C, per point.
        coeff = (-grad.squeeze(1).to(rstd.dtype) * rstd**3 /
                 x.shape[1]).unsqueeze(1)
        return torch.addcmul((-coeff * mean.unsqueeze(1)).to(x.dtype), x,
                             coeff.to(x.dtype)), None


def channel_rstd(x: Tensor, eps: float = 1e-5) -> Tensor:
    """The reciprocal standard deviation over the channels of (B, C, H, W)
    x, (B, 1, H, W): the scale of a LayerNorm over channels, differentiable,
    without a channels-last copy of x."""
    return _ChannelRstd.apply(x, eps)


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


__all__ = ['channel_linear', 'channel_norm_linear', 'channel_rstd']
