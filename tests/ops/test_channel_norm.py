"""sapa_mm.ops.channel_norm, the channel LayerNorms folded into SAPA's
projections and similarity: each against the literal LayerNorm (and
projection, and similarity) in float64, their gradients and layouts."""
import pytest
import torch
import torch.nn.functional as F
from torch._prims_common import suggest_memory_format

import sapa_mm.ops as ops
from sapa_mm.ops import reference
from sapa_mm.ops.channel_norm import (
    channel_linear,
    channel_norm_linear,
    channel_norm_similarity,
)


@pytest.mark.parametrize('layout', ['planar', 'channels_last'])
@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_channel_norm_matches_layer_norm(device, layout, dtype, formats,
                                         tolerances):
    """SAPA-I's LayerNorm of x, in x's memory format, against F.layer_norm
    in float64 (a mean far from 0); the incoming gradient is left as is."""
    x = (torch.randn(2, 37, 5, 9, dtype=torch.float64, device=device) * 2 +
         50).to(dtype)
    x = formats(x)[layout].requires_grad_()
    out = ops.channel_norm(x, 1e-5)
    assert out.dtype == dtype and suggest_memory_format(
        out) == suggest_memory_format(x)
    x64 = x.detach().double().requires_grad_()
    want = F.layer_norm(x64.permute(0, 2, 3, 1), (37, )).permute(0, 3, 1, 2)
    grad = torch.randn_like(want)
    grad_in = grad.to(dtype)
    saved = grad_in.clone()
    got, = torch.autograd.grad(out, x, grad_in)
    want_grad, = torch.autograd.grad(want, x64, grad)
    assert torch.equal(grad_in, saved)
    tol = tolerances[dtype] if dtype != torch.float32 else dict(atol=1e-4,
                                                                rtol=1e-4)
    torch.testing.assert_close(out.double(), want, **tol)
    scale = want_grad.abs().max()
    torch.testing.assert_close(got.double() / scale, want_grad / scale, **tol)


def _norm_linear_reference(x, weight, bias, norm_weight, norm_bias):
    normed = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], norm_weight,
                          norm_bias)
    return F.linear(normed, weight, bias).permute(0, 3, 1, 2)


@pytest.mark.parametrize('layout', ['planar', 'channels_last'])
@pytest.mark.parametrize('affine', [True, False])
@pytest.mark.parametrize(
    'dtype', [torch.float32, torch.float16, torch.bfloat16])
def test_channel_norm_linear_matches_layer_norm_then_linear(
        device, layout, affine, dtype, formats, tolerances):
    """The folded LayerNorm + projection against the literal one in float64
    on the same (rounded) inputs; low precision takes the centred path."""
    C, D = 24, 5
    x = (torch.randn(2, C, 6, 7, device=device) * 2 + 3).to(dtype)
    x = formats(x)[layout].requires_grad_()
    params = [torch.randn(D, C, device=device) / C**0.5,
              torch.randn(D, device=device),
              torch.rand(C, device=device) + 0.5 if affine else None,
              torch.randn(C, device=device) if affine else None]
    params = [None if p is None else p.requires_grad_() for p in params]
    out = channel_norm_linear(x, *params)
    assert out.shape == (2, D, 6, 7) and out.dtype == dtype
    assert out.is_contiguous()
    x64 = x.detach().double().requires_grad_()
    p64 = [None if p is None else p.detach().double().requires_grad_()
           for p in params]
    want = _norm_linear_reference(x64, *p64)
    tol = dict(atol=1e-4, rtol=1e-4) if dtype == torch.float32 else \
        tolerances[dtype]
    torch.testing.assert_close(out.double(), want, **tol)
    grad = torch.randn_like(want)
    inputs = [x] + [p for p in params if p is not None]
    inputs64 = [x64] + [p for p in p64 if p is not None]
    got = torch.autograd.grad(out, inputs, grad.to(dtype))
    expected = torch.autograd.grad(want, inputs64, grad)
    assert got[0].is_contiguous(memory_format=suggest_memory_format(x))
    for g_got, g_want in zip(got, expected):
        scale = g_want.abs().max().item()
        torch.testing.assert_close(g_got.double() / scale, g_want / scale,
                                   **tol)


@pytest.mark.parametrize('layout', ['planar', 'channels_last'])
@pytest.mark.parametrize(
    'dtype', [torch.float32, torch.float16, torch.bfloat16])
def test_channel_norm_similarity_matches_layer_norm_then_similarity(
        device, layout, dtype, formats, tolerances):
    """similarity(LN(query), key) without a normalised query, against the
    literal one in float64 on the same (rounded) inputs, for keys that are
    not centred; the query's gradient keeps its layout."""
    q = (torch.randn(2, 12, 7, 9, device=device) * 2 + 3).to(dtype)
    q = formats(q)[layout].requires_grad_()
    k = (torch.randn(2, 12, 4, 5, device=device) + 1).to(dtype)
    k.requires_grad_()
    out = channel_norm_similarity(q, k, 3)
    assert out.shape == (2, 9, 7, 9) and out.dtype == dtype
    q64, k64 = (t.detach().double().requires_grad_() for t in (q, k))
    normed = F.layer_norm(q64.permute(0, 2, 3, 1), (12, )).permute(0, 3, 1, 2)
    want = reference.similarity(normed, k64, 3)
    tol = dict(atol=1e-4, rtol=1e-4) if dtype == torch.float32 else \
        tolerances[dtype]
    torch.testing.assert_close(out.double(), want, **tol)
    grad = torch.randn_like(want)
    got = torch.autograd.grad(out, (q, k), grad.to(dtype))
    expected = torch.autograd.grad(want, (q64, k64), grad)
    assert got[0].is_contiguous(memory_format=suggest_memory_format(q))
    for g_got, g_want in zip(got, expected):
        scale = g_want.abs().max().item()
        torch.testing.assert_close(g_got.double() / scale, g_want / scale,
                                   **tol)


def test_projection_gradcheck():
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64) + 2
    x.requires_grad_()
    w, b, g, beta = (torch.randn(*s, dtype=torch.float64, requires_grad=True)
                     for s in ((3, 6), (3, ), (6, ), (6, )))
    assert torch.autograd.gradcheck(channel_norm_linear, (x, w, b, g, beta))
    assert torch.autograd.gradcheck(channel_norm_linear, (x, w))
    assert torch.autograd.gradcheck(channel_linear, (x, w, b))
    x_cl = x.detach().contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(channel_linear, (x_cl.requires_grad_(), w))
    k = torch.randn(2, 6, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(channel_norm_similarity, (x, k, 3))
