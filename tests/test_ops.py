"""The SAPA ops: every backend against the pure-PyTorch reference, gradients,
the index mapping, validation, and the op registration."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES
from torch._prims_common import suggest_memory_format

import sapa_mm.ops as ops
from sapa_mm.ops import aggregate, reference, sapa, similarity
from sapa_mm.ops.library import SCHEMAS
from sapa_mm.ops.channel_norm import (channel_linear, channel_norm_linear,
                                      channel_norm_similarity)

requires_ext = pytest.mark.skipif(
    not ops.HAS_EXT, reason='sapa_mm._ext is not built')

# (h, w, H, W): 1x1, non-square, exact 2x, non-multiples (mmseg's odd test
# sizes), equal sizes and larger ratios.
SIZES = [(1, 1, 1, 1), (1, 1, 3, 2), (3, 5, 6, 10), (3, 5, 7, 11),
         (4, 6, 8, 12), (5, 4, 5, 4), (2, 3, 9, 7), (9, 8, 17, 16)]
KERNEL_SIZES = [1, 3, 5, 7]
# Per-dtype tolerances; low precision is compared with the float32 reference
# of the same (rounded) inputs.
TOLERANCES = {
    torch.float64: dict(atol=1e-10, rtol=1e-10),
    torch.float32: dict(atol=1e-4, rtol=1e-4),
    torch.float16: dict(atol=2e-2, rtol=1e-2),
    torch.bfloat16: dict(atol=1e-1, rtol=5e-2),
}


def _inputs(B, D, C, h, w, H, W, K, dtype=torch.float32, device='cpu'):
    q = torch.randn(B, D, H, W, device=device).to(dtype)
    k = torch.randn(B, D, h, w, device=device).to(dtype)
    v = torch.randn(B, C, h, w, device=device).to(dtype)
    wt = torch.randn(B, K * K, H, W, device=device).softmax(1).to(dtype)
    return q, k, v, wt


def _assert_close(actual, expected, dtype):
    torch.testing.assert_close(
        actual.float(), expected.float(), **TOLERANCES[dtype])


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('h,w,H,W', SIZES)
@pytest.mark.parametrize('K', KERNEL_SIZES)
def test_forward_backward_match_reference(device, h, w, H, W, K):
    # D=3 and C=17 leave tails after any vector width.
    q, k, v, wt = _inputs(2, 3, 17, h, w, H, W, K, device=device)
    for t in (q, k, v, wt):
        t.requires_grad_()
    outputs = (similarity(q, k, K, backend='auto'),
               aggregate(wt, v, K, backend='auto'),
               sapa(q, k, v, K, backend='auto'))
    expected = (reference.similarity(q, k, K), reference.aggregate(wt, v, K),
                reference.sapa(q, k, v, K))
    for out, ref in zip(outputs, expected):
        assert out.shape == ref.shape
        _assert_close(out, ref, torch.float32)
        grad = torch.randn_like(ref)
        inputs = [t for t in (q, k, v, wt)]
        got = torch.autograd.grad(out, inputs, grad, allow_unused=True)
        want = torch.autograd.grad(ref, inputs, grad, allow_unused=True)
        for g_got, g_want in zip(got, want):
            assert (g_got is None) == (g_want is None)
            if g_got is not None:
                _assert_close(g_got, g_want, torch.float32)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('h,w,H,W', [(3, 5, 7, 11), (8, 8, 16, 16)])
def test_dtypes(device, dtype, h, w, H, W):
    K = 5
    q, k, v, _ = _inputs(2, 32, 40, h, w, H, W, K, dtype=dtype, device=device)
    for t in (q, k, v):
        t.requires_grad_()
    out = sapa(q, k, v, K)
    assert out.dtype == dtype
    q32, k32, v32 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref = reference.sapa(q32, k32, v32, K)
    _assert_close(out, ref, dtype)
    grad = torch.randn_like(ref)
    got = torch.autograd.grad(out, (q, k, v), grad.to(dtype))
    want = torch.autograd.grad(ref, (q32, k32, v32), grad)
    for g_got, g_want in zip(got, want):
        assert g_got.dtype == dtype
        # Gradients sum K*K*D products: scale the tolerance with them.
        scale = g_want.abs().max().item()
        tol = TOLERANCES[dtype]
        torch.testing.assert_close(
            g_got.double(), g_want, atol=tol['atol'] * scale,
            rtol=tol['rtol'])


def _formats(t):
    """t planar, channels-last, and non-contiguous (every other element of
    a wider tensor)."""
    return dict(planar=t.contiguous(),
                channels_last=t.contiguous(memory_format=torch.channels_last),
                strided=torch.stack([t, -t], -1)[..., 0])


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('query_format', ['planar', 'channels_last'])
@pytest.mark.parametrize('value_format',
                         ['planar', 'channels_last', 'strided'])
@pytest.mark.parametrize('grad_format', ['planar', 'channels_last', 'strided'])
def test_memory_formats_and_strides(device, query_format, value_format,
                                    grad_format):
    """Each layout takes its own code path in the kernels (planar rows are
    transposed on the fly): all agree with the reference, and results come
    in the memory format of the input they correspond to."""
    K = 3
    q, k, v, _ = _inputs(2, 6, 19, 5, 7, 10, 13, K, device=device)
    q, k = (_formats(t)[query_format].requires_grad_() for t in (q, k))
    v = _formats(v)[value_format].requires_grad_()
    out = sapa(q, k, v, K)
    expected = reference.sapa(q, k, v, K)
    _assert_close(out, expected, torch.float32)
    is_channels_last = value_format == 'channels_last'
    assert out.is_contiguous(memory_format=torch.channels_last) == \
        is_channels_last
    assert out.is_contiguous() != is_channels_last
    grad = _formats(torch.randn_like(expected))[grad_format]
    got = torch.autograd.grad(out, (q, k, v), grad)
    want = torch.autograd.grad(expected, (q, k, v), grad)
    for g_got, g_want, t in zip(got, want, (q, k, v)):
        _assert_close(g_got, g_want, torch.float32)
        assert g_got.is_contiguous(memory_format=torch.channels_last) == \
            t.is_contiguous(memory_format=torch.channels_last)


@requires_ext
@pytest.mark.parametrize('K', [1, 3, 5])
def test_gradcheck(K):
    q, k, v, wt = _inputs(2, 3, 4, 2, 3, 4, 5, K, dtype=torch.float64)
    for t in (q, k, v, wt):
        t.requires_grad_()
    be = 'extension'
    assert torch.autograd.gradcheck(
        lambda a, b: similarity(a, b, K, backend=be), (q, k))
    assert torch.autograd.gradcheck(
        lambda a, b: aggregate(a, b, K, backend=be), (wt, v))
    assert torch.autograd.gradcheck(
        lambda a, b, c: sapa(a, b, c, K, backend=be), (q, k, v))


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('h,H', [(4, 8), (86, 171), (64, 128), (5, 17),
                                 (7, 7)])
def test_index_mapping(device, h, H):
    """With K=1 and unit weights aggregate is a nearest upsampling whose
    source row is floor(i * h / H) exactly: i // 2 for an exact 2x."""
    value = torch.randn(1, 3, h, h + 1, device=device)
    W = H + 2
    weights = torch.ones(1, 1, H, W, device=device)
    out = aggregate(weights, value, 1)
    rows = [i * h // H for i in range(H)]
    cols = [j * (h + 1) // W for j in range(W)]
    if H == 2 * h:
        assert rows == [i // 2 for i in range(H)]
    assert torch.equal(out, value[:, :, rows][:, :, :, cols])


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('h,w,H,W', [(4, 6, 8, 12), (3, 5, 9, 5), (4, 6, 7, 13),
                                     (1, 1, 5, 3), (86, 64, 171, 128)])
def test_nearest_upsample(device, h, w, H, W):
    """Integer ratios (a broadcast) and others (aggregate with K=1) read
    floor(i*h/H); the gradient sums each point's copies."""
    x = torch.randn(2, 3, h, w, device=device, dtype=torch.float64,
                    requires_grad=True)
    out = ops.nearest_upsample(x, (H, W))
    rows = reference.source_indices(H, h, x.device)
    cols = reference.source_indices(W, w, x.device)
    expected = x.index_select(2, rows).index_select(3, cols)
    assert torch.equal(out, expected)
    grad = torch.randn_like(out)
    got, = torch.autograd.grad(out, x, grad)
    want, = torch.autograd.grad(expected, x, grad)
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match='at least'):
        ops.nearest_upsample(x, (h - 1 if h > 1 else 0, W))


@requires_ext
def test_deterministic_across_threads():
    q, k, v, _ = _inputs(2, 8, 16, 12, 10, 23, 20, 5)
    for t in (q, k, v):
        t.requires_grad_()
    results = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            out = sapa(q, k, v, 5)
            grads = torch.autograd.grad(out.sum(), (q, k, v))
            results.append((out, *grads))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_empty_batch():
    q, k, v, _ = _inputs(0, 4, 4, 3, 3, 6, 6, 3)
    assert sapa(q, k, v, 3).shape == (0, 4, 6, 6)


def test_reference_window_gather_is_the_transpose():
    """The fallback backward uses window_gather; it must be the adjoint."""
    K, (h, w) = 5, (3, 4)
    _, _, v, wt = _inputs(2, 1, 6, h, w, 7, 9, K, dtype=torch.float64)
    v.requires_grad_()
    out = reference.aggregate(wt, v, K)
    grad = torch.randn_like(out)
    (expected, ) = torch.autograd.grad(out, v, grad)
    torch.testing.assert_close(
        reference.window_gather(wt, grad, (h, w), K), expected)


@pytest.mark.parametrize('device', DEVICES)
def test_similarity_softmax_extreme_values(device):
    """The kernels' exp over the whole float range: weights to 1e-6 of
    ATen's softmax where similarities span hundreds (many underflow to 0),
    and a NaN query makes its own points' weights NaN only."""
    K = 5
    q, k, _, _ = _inputs(2, 16, 1, 6, 7, 12, 14, K, device=device)
    q = q * 8
    q[1, :, 3, 5] = float('nan')
    got = torch.ops.sapa_mm.similarity_softmax(q, k, K)
    sim = reference.similarity(q.double(), k.double(), K)
    finite = sim[sim.isfinite()]
    assert finite.max() - finite.min() > 200
    want = sim.softmax(1).float()
    nan = torch.zeros_like(want, dtype=torch.bool)
    nan[1, :, 3, 5] = True
    assert got[nan].isnan().all()
    torch.testing.assert_close(got[~nan], want[~nan], atol=1e-6, rtol=1e-5)
    assert (got[~nan] == 0).any()


@requires_ext
def test_portable_cpu_kernels():
    """The CPU kernels are compiled once per instruction set; this CPU runs
    the AVX2 copy where it can, so check the portable copy in a process that
    selects it."""
    env = dict(os.environ, SAPA_MM_CPU_CAPABILITY='default')
    capability = subprocess.run(
        [sys.executable, '-c',
         'from sapa_mm import _ext; print(_ext.cpu_capability())'],
        env=env, capture_output=True, text=True, timeout=120)
    assert capability.stdout.strip() == 'default', capability.stderr
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', __file__, '-q', '-x', '-p',
         'no:cacheprovider', '-k', '(match_reference or dtypes or '
         'memory_formats or deterministic or channel_stats or '
         'channel_norm_backward or extreme_values or linear_norm) and not '
         'cuda_emulation'],
        env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]


# --- channel LayerNorm: statistics, backward, folded projections -----------


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('layout', ['planar', 'channels_last'])
@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_channel_stats(device, layout, dtype):
    # A mean far from 0 against the spread: a one-pass variance would cancel.
    x = torch.randn(2, 37, 5, 9, dtype=torch.float64, device=device) * 2 + 50
    x = _formats(x.to(dtype))[layout]
    mean, rstd = torch.ops.sapa_mm.channel_stats(x, 1e-5)
    want_mean, want_rstd = reference.channel_stats(x.double(), 1e-5)
    assert mean.dtype == rstd.dtype == (
        torch.float64 if dtype == torch.float64 else torch.float32)
    torch.testing.assert_close(mean.double(), want_mean, rtol=1e-6, atol=0)
    torch.testing.assert_close(rstd.double(), want_rstd, rtol=1e-5, atol=0)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('layouts', [('planar', 'planar'),
                                     ('channels_last', 'channels_last'),
                                     ('planar', 'channels_last'),
                                     ('strided', 'planar')])
@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('size', [(5, 9), (23, 29)])
@pytest.mark.parametrize('impl', ['op', 'composite'])
def test_channel_norm_backward(device, layouts, dtype, size, impl):
    """In place, the gradient of LayerNorm over channels from that of its
    normalised output, against autograd through F.layer_norm in float64; 45
    and 667 points (tails of the 512-point planar blocks), grad and x in
    the same or different layouts, a strided grad written back. 'composite'
    is the torch-ops version that runs off the CPU."""
    grad_layout, x_layout = layouts
    x = torch.randn(2, 37, *size, dtype=torch.float64, device=device) * 2 + 50
    g = torch.randn_like(x)
    x64 = x.clone().requires_grad_()
    xhat = F.layer_norm(x64.permute(0, 2, 3, 1), (37, )).permute(0, 3, 1, 2)
    want, = torch.autograd.grad(xhat, x64, g)
    x, g = _formats(x.to(dtype))[x_layout], _formats(g.to(dtype))[grad_layout]
    mean, rstd = torch.ops.sapa_mm.channel_stats(x, 1e-5)
    ptr = g.data_ptr()
    if impl == 'op':
        torch.ops.sapa_mm.channel_norm_backward_(g, x, mean, rstd)
    else:
        reference.channel_norm_backward_(g, x, mean, rstd)
    assert g.data_ptr() == ptr
    tol = TOLERANCES[dtype] if dtype != torch.float32 else dict(atol=1e-4,
                                                                rtol=1e-4)
    scale = want.abs().max()
    torch.testing.assert_close(g.double() / scale, want / scale, **tol)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('layout', ['planar', 'channels_last', 'strided'])
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('size,D', [((5, 9), 5), ((23, 29), 32), ((1, 1), 1)])
@pytest.mark.parametrize('impl', ['op', 'composite'])
def test_channel_stats_linear(device, layout, dtype, size, D, impl):
    """channel_stats and weight @ x over channels in one pass, against
    float64: 45 and 667 points (tails of the 16-point strips and of the
    512-point blocks), D = 1, 5 (rows past a 4-row tile) and 32."""
    C = 37
    x = torch.randn(2, C, *size, dtype=torch.float64, device=device) * 2 + 50
    w = torch.randn(D, C, dtype=torch.float64, device=device)
    op = torch.ops.sapa_mm.channel_stats_linear if impl == 'op' else \
        reference.channel_stats_linear
    out, mean, rstd = op(_formats(x.to(dtype))[layout], w.to(dtype), 1e-5)
    assert out.shape == (2, D, *size) and out.is_contiguous()
    assert out.dtype == mean.dtype == rstd.dtype == dtype
    want_mean, want_rstd = reference.channel_stats(x.to(dtype).double(), 1e-5)
    want = torch.einsum('dc,bchw->bdhw', w.to(dtype).double(),
                        x.to(dtype).double())
    torch.testing.assert_close(mean.double(), want_mean, rtol=1e-6, atol=0)
    torch.testing.assert_close(rstd.double(), want_rstd, rtol=1e-5, atol=0)
    torch.testing.assert_close(out.double(), want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('layout', ['planar', 'channels_last', 'strided'])
@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('size,D', [((5, 9), 5), ((23, 29), 32)])
@pytest.mark.parametrize('impl', ['op', 'composite'])
def test_channel_linear_norm_backward(device, layout, dtype, size, D, impl):
    """The gradient of x -> LayerNorm over channels -> weight, fused on a
    planar x, against autograd through F.layer_norm and F.linear in
    float64; 45 and 667 points (tails of the strips and blocks)."""
    C = 37
    x = torch.randn(2, C, *size, dtype=torch.float64, device=device) * 2 + 50
    w = torch.randn(D, C, dtype=torch.float64, device=device) / C**0.5
    g = torch.randn(2, D, *size, dtype=torch.float64, device=device)
    x = x.to(dtype).double()
    x64 = x.clone().requires_grad_()
    xhat = F.layer_norm(x64.permute(0, 2, 3, 1), (C, ))
    want, = torch.autograd.grad(F.linear(xhat, w).permute(0, 3, 1, 2), x64,
                                g.to(dtype).double())
    x = _formats(x.to(dtype))[layout]
    mean, rstd = torch.ops.sapa_mm.channel_stats(x, 1e-5)
    op = torch.ops.sapa_mm.channel_linear_norm_backward if impl == 'op' \
        else reference.channel_linear_norm_backward
    dx = op(g.to(dtype), w.float() if dtype != torch.float64 else w, x, mean,
            rstd)
    assert dx.dtype == dtype and dx.shape == x.shape
    assert dx.is_contiguous(memory_format=torch.channels_last) == (
        layout == 'channels_last')
    tol = TOLERANCES[dtype] if dtype != torch.float32 else dict(atol=1e-4,
                                                                rtol=1e-4)
    scale = want.abs().max()
    torch.testing.assert_close(dx.double() / scale, want / scale, **tol)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('layout', ['planar', 'channels_last'])
@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_channel_norm_matches_layer_norm(device, layout, dtype):
    """SAPA-I's LayerNorm of x, in x's memory format, against F.layer_norm
    in float64 (a mean far from 0); the incoming gradient is left as is."""
    x = (torch.randn(2, 37, 5, 9, dtype=torch.float64, device=device) * 2 +
         50).to(dtype)
    x = _formats(x)[layout].requires_grad_()
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
    tol = TOLERANCES[dtype] if dtype != torch.float32 else dict(atol=1e-4,
                                                                rtol=1e-4)
    torch.testing.assert_close(out.double(), want, **tol)
    scale = want_grad.abs().max()
    torch.testing.assert_close(got.double() / scale, want_grad / scale, **tol)


def _norm_linear_reference(x, weight, bias, norm_weight, norm_bias):
    normed = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], norm_weight,
                          norm_bias)
    return F.linear(normed, weight, bias).permute(0, 3, 1, 2)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('layout', ['planar', 'channels_last'])
@pytest.mark.parametrize('affine', [True, False])
@pytest.mark.parametrize(
    'dtype', [torch.float32, torch.float16, torch.bfloat16])
def test_channel_norm_linear_matches_layer_norm_then_linear(
        device, layout, affine, dtype):
    """The folded LayerNorm + projection against the literal one in float64
    on the same (rounded) inputs; low precision takes the centred path."""
    C, D = 24, 5
    x = (torch.randn(2, C, 6, 7, device=device) * 2 + 3).to(dtype)
    x = _formats(x)[layout].requires_grad_()
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
        TOLERANCES[dtype]
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


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('layout', ['planar', 'channels_last'])
@pytest.mark.parametrize(
    'dtype', [torch.float32, torch.float16, torch.bfloat16])
def test_channel_norm_similarity_matches_layer_norm_then_similarity(
        device, layout, dtype):
    """similarity(LN(query), key) without a normalised query, against the
    literal one in float64 on the same (rounded) inputs, for keys that are
    not centred; the query's gradient keeps its layout."""
    q = (torch.randn(2, 12, 7, 9, device=device) * 2 + 3).to(dtype)
    q = _formats(q)[layout].requires_grad_()
    k = (torch.randn(2, 12, 4, 5, device=device) + 1).to(dtype)
    k.requires_grad_()
    out = channel_norm_similarity(q, k, 3)
    assert out.shape == (2, 9, 7, 9) and out.dtype == dtype
    q64, k64 = (t.detach().double().requires_grad_() for t in (q, k))
    normed = F.layer_norm(q64.permute(0, 2, 3, 1), (12, )).permute(0, 3, 1, 2)
    want = reference.similarity(normed, k64, 3)
    tol = dict(atol=1e-4, rtol=1e-4) if dtype == torch.float32 else \
        TOLERANCES[dtype]
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


# --- validation ------------------------------------------------------------


def _valid():
    return _inputs(2, 4, 6, 3, 5, 6, 10, 3)


@pytest.mark.parametrize(
    'make, error, match',
    [
        (lambda q, k, v, w: similarity(q[0], k, 3), ValueError,
         r'query must be 4-D .*query.shape=\(4, 6, 10\)'),
        (lambda q, k, v, w: similarity(q, k[:1], 3), ValueError,
         'batch sizes differ'),
        (lambda q, k, v, w: similarity(q, k[:, :3], 3), ValueError,
         r'key must have 4 channels .*key.shape=\(2, 3, 3, 5\)'),
        (lambda q, k, v, w: similarity(k, q, 3), ValueError,
         r'output size \(H, W\)=\(3, 5\) .* at least .*\(6, 10\)'),
        (lambda q, k, v, w: similarity(q, k, 4), ValueError,
         'kernel_size must be odd and positive, got 4'),
        (lambda q, k, v, w: similarity(q, k, 0), ValueError,
         'kernel_size must be odd and positive, got 0'),
        (lambda q, k, v, w: similarity(q, k, -1), ValueError,
         'kernel_size must be odd and positive'),
        (lambda q, k, v, w: similarity(q, k, 3.0), TypeError,
         'kernel_size must be an int'),
        (lambda q, k, v, w: similarity(q, k.double(), 3), TypeError,
         r'query.dtype=torch.float32 but key.dtype=torch.float64'),
        (lambda q, k, v, w: similarity(q, k.long(), 3), TypeError,
         'key must be floating point'),
        (lambda q, k, v, w: similarity(q, k.to('meta'), 3), ValueError,
         'query is on cpu but key is on meta'),
        (lambda q, k, v, w: similarity(q, k[..., :0], 3), ValueError,
         'empty spatial size'),
        (lambda q, k, v, w: similarity(q.numpy(), k, 3), TypeError,
         'query must be a Tensor'),
        (lambda q, k, v, w: aggregate(w, v, 5), ValueError,
         r'weights must have 25 channels .*kernel_size=5'),
        (lambda q, k, v, w: aggregate(w, v[:, :, :, :1].expand(
            2, 6, 3, 11), 3), ValueError, 'at least'),
        (lambda q, k, v, w: sapa(q, k, v[..., :4], 3), ValueError,
         'value and key must have the same spatial size'),
        (lambda q, k, v, w: sapa(q, k, v, 3, backend='triton'), ValueError,
         'backend must be one of'),
    ])
def test_validation(make, error, match):
    with pytest.raises(error, match=match):
        make(*_valid())


def test_extension_backend_without_kernels():
    q, k, v, _ = _valid()
    if ops.HAS_EXT:
        sapa(q, k, v, 3, backend='extension')
    else:
        with pytest.raises(NotImplementedError, match='pip install'):
            sapa(q, k, v, 3, backend='extension')


@requires_ext
def test_kernel_checks_guard_direct_op_calls():
    """The C++ ops check their inputs too, for callers of torch.ops."""
    ops_ = torch.ops.sapa_mm
    q = torch.randn(1, 3, 4, 4)
    with pytest.raises(RuntimeError, match='at least as large'):
        ops_.similarity(q[:, :, :2, :2], q, 3)
    with pytest.raises(RuntimeError, match='channels differ'):
        ops_.similarity(q, q[:, :2, :2, :2], 3)
    with pytest.raises(RuntimeError, match='odd and positive'):
        ops_.similarity(q, q, 2)
    with pytest.raises(RuntimeError, match='grad must have shape'):
        ops_.aggregate_backward(q[:, :2], torch.randn(1, 9, 4, 4),
                                q[:, :, :2, :2], 3, [True, True])
    with pytest.raises(RuntimeError, match='4-D'):
        ops_.channel_stats(q[0], 1e-5)
    mean, rstd = ops_.channel_stats(q, 1e-5)
    with pytest.raises(RuntimeError, match='rstd must have shape'):
        ops_.channel_norm_backward_(q.clone(), q, mean, rstd[:, :2])
    with pytest.raises(RuntimeError, match='mean must be Float'):
        ops_.channel_norm_backward_(q.clone(), q, mean.double(), rstd)
    with pytest.raises(RuntimeError, match=r'weight must be \(D, 3\)'):
        ops_.channel_stats_linear(q, torch.randn(2, 4), 1e-5)
    with pytest.raises(RuntimeError, match='float32 or float64'):
        ops_.channel_stats_linear(q.half(), torch.randn(2, 3), 1e-5)
    with pytest.raises(RuntimeError, match='grad must have shape'):
        ops_.channel_linear_norm_backward(q[:, :2, :2], torch.randn(2, 3), q,
                                          mean, rstd)


# --- registration ----------------------------------------------------------


def test_schemas_match_the_extension():
    for name, schema in SCHEMAS.items():
        op = getattr(torch.ops.sapa_mm, name).default
        assert str(op._schema) == f'sapa_mm::{name}{schema}'


def test_torch_compile_traces_the_named_ops():
    q, k, v, _ = _inputs(1, 4, 4, 3, 4, 6, 8, 3)
    seen = []

    def backend(gm, example_inputs):
        seen.extend(str(n.target) for n in gm.graph.nodes)
        return gm.forward

    compiled = torch.compile(lambda a, b, c: sapa(a, b, c, 3),
                             backend=backend, fullgraph=True)
    torch.testing.assert_close(compiled(q, k, v), reference.sapa(q, k, v, 3))
    assert 'sapa_mm.similarity_softmax' in seen
    assert 'sapa_mm.aggregate' in seen


def test_fallback_without_extension():
    """With the extension disabled the same ops run on the reference, with
    one warning, forward and backward."""
    script = textwrap.dedent('''
        import warnings
        import torch
        from sapa_mm import ops
        from sapa_mm.ops import reference, sapa
        assert not ops.HAS_EXT
        q = torch.randn(2, 4, 7, 9, dtype=torch.float64, requires_grad=True)
        k = torch.randn(2, 4, 4, 5, dtype=torch.float64, requires_grad=True)
        v = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            out = sapa(q, k, v, 3)
            out2 = sapa(q, k, v, 3)
        msgs = [str(w.message) for w in caught]
        assert len(msgs) == 1 and 'not built' in msgs[0], msgs
        torch.testing.assert_close(out, reference.sapa(q, k, v, 3))
        assert torch.autograd.gradcheck(lambda *t: sapa(*t, 3), (q, k, v))
        print('ok')
    ''')
    env = dict(os.environ, SAPA_MM_DISABLE_EXT='1')
    result = subprocess.run([sys.executable, '-c', script], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'ok'
