"""sapa_mm.ops.fallback, the kernels of the sapa_mm ops where the extension
has none: the window ops on the reference's sums in the kernels' memory
formats (and sapa_mm without the extension), and the channel LayerNorm ops
(statistics, backward, fused projection), each against float64 autograd
beside the op they back."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from sapa_mm.ops import fallback
from sapa_mm.ops.library import SCHEMAS

# --- the window ops --------------------------------------------------------


def test_window_kernels_back_the_window_ops():
    assert set(fallback.WINDOW_KERNELS) == {
        name for name in SCHEMAS if not name.startswith('channel_')}


@pytest.mark.usefixtures('needs_ext')
@pytest.mark.parametrize('layout', ['planar', 'channels_last'])
def test_window_kernels_match_the_ops(layout, make_inputs, formats):
    """Each window kernel gives the op's results, in the op's memory
    formats, with None where output_mask asks for no gradient."""
    K = 3
    q, k, v, wt = (formats(t.double())[layout]
                   for t in make_inputs(2, 4, 5, 3, 4, 7, 9, K))
    grad_k2 = torch.randn_like(wt)
    grad_v = torch.randn(2, 5, 7, 9, dtype=torch.float64)
    calls = {
        'similarity': (q, k, K),
        'similarity_softmax': (q, k, K),
        'aggregate': (wt, v, K),
        'similarity_backward': (grad_k2, q, k, K, [True, True]),
        'similarity_softmax_backward': (grad_k2, wt, q, k, K, [True, False]),
        'aggregate_backward': (grad_v, wt, v, K, [False, True]),
    }
    assert set(calls) == set(fallback.WINDOW_KERNELS)
    for name, args in calls.items():
        got = fallback.WINDOW_KERNELS[name](*args)
        want = getattr(torch.ops.sapa_mm, name)(*args)
        got, want = ((got, want) if isinstance(want, tuple) else
                     ((got, ), (want, )))
        for a, b in zip(got, want):
            assert (a is None) == (b is None), name
            if b is not None:
                torch.testing.assert_close(a, b, msg=name)
                assert a.stride() == b.stride(), name


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


# --- the channel LayerNorm ops: statistics, backward, fused projection -----


@pytest.mark.parametrize('layout', ['planar', 'channels_last'])
@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_channel_stats(device, layout, dtype, formats):
    # A mean far from 0 against the spread: a one-pass variance would cancel.
    x = torch.randn(2, 37, 5, 9, dtype=torch.float64, device=device) * 2 + 50
    x = formats(x.to(dtype))[layout]
    mean, rstd = torch.ops.sapa_mm.channel_stats(x, 1e-5)
    want_mean, want_rstd = fallback.channel_stats(x.double(), 1e-5)
    assert mean.dtype == rstd.dtype == (
        torch.float64 if dtype == torch.float64 else torch.float32)
    torch.testing.assert_close(mean.double(), want_mean, rtol=1e-6, atol=0)
    torch.testing.assert_close(rstd.double(), want_rstd, rtol=1e-5, atol=0)


@pytest.mark.parametrize('layouts', [('planar', 'planar'),
                                     ('channels_last', 'channels_last'),
                                     ('planar', 'channels_last'),
                                     ('strided', 'planar')])
@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('size', [(5, 9), (23, 29)])
@pytest.mark.parametrize('impl', ['op', 'composite'])
def test_channel_norm_backward(device, layouts, dtype, size, impl, formats,
                               tolerances):
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
    x, g = formats(x.to(dtype))[x_layout], formats(g.to(dtype))[grad_layout]
    mean, rstd = torch.ops.sapa_mm.channel_stats(x, 1e-5)
    ptr = g.data_ptr()
    if impl == 'op':
        torch.ops.sapa_mm.channel_norm_backward_(g, x, mean, rstd)
    else:
        fallback.channel_norm_backward_(g, x, mean, rstd)
    assert g.data_ptr() == ptr
    tol = tolerances[dtype] if dtype != torch.float32 else dict(atol=1e-4,
                                                                rtol=1e-4)
    scale = want.abs().max()
    torch.testing.assert_close(g.double() / scale, want / scale, **tol)


@pytest.mark.parametrize('layout', ['planar', 'channels_last', 'strided'])
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('size,D', [((5, 9), 5), ((23, 29), 32), ((1, 1), 1)])
@pytest.mark.parametrize('impl', ['op', 'composite'])
def test_channel_stats_linear(device, layout, dtype, size, D, impl, formats):
    """channel_stats and weight @ x over channels in one pass, against
    float64: 45 and 667 points (tails of the 16-point strips and of the
    512-point blocks), D = 1, 5 (rows past a 4-row tile) and 32."""
    C = 37
    x = torch.randn(2, C, *size, dtype=torch.float64, device=device) * 2 + 50
    w = torch.randn(D, C, dtype=torch.float64, device=device)
    op = torch.ops.sapa_mm.channel_stats_linear if impl == 'op' else \
        fallback.channel_stats_linear
    out, mean, rstd = op(formats(x.to(dtype))[layout], w.to(dtype), 1e-5)
    assert out.shape == (2, D, *size) and out.is_contiguous()
    assert out.dtype == mean.dtype == rstd.dtype == dtype
    want_mean, want_rstd = fallback.channel_stats(x.to(dtype).double(), 1e-5)
    want = torch.einsum('dc,bchw->bdhw', w.to(dtype).double(),
                        x.to(dtype).double())
    torch.testing.assert_close(mean.double(), want_mean, rtol=1e-6, atol=0)
    torch.testing.assert_close(rstd.double(), want_rstd, rtol=1e-5, atol=0)
    torch.testing.assert_close(out.double(), want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize('layout', ['planar', 'channels_last', 'strided'])
@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('size,D', [((5, 9), 5), ((23, 29), 32)])
@pytest.mark.parametrize('impl', ['op', 'composite'])
def test_channel_linear_norm_backward(device, layout, dtype, size, D, impl,
                                      formats, tolerances):
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
    x = formats(x.to(dtype))[layout]
    mean, rstd = torch.ops.sapa_mm.channel_stats(x, 1e-5)
    op = torch.ops.sapa_mm.channel_linear_norm_backward if impl == 'op' \
        else fallback.channel_linear_norm_backward
    dx = op(g.to(dtype), w.float() if dtype != torch.float64 else w, x, mean,
            rstd)
    assert dx.dtype == dtype and dx.shape == x.shape
    assert dx.is_contiguous(memory_format=torch.channels_last) == (
        layout == 'channels_last')
    tol = tolerances[dtype] if dtype != torch.float32 else dict(atol=1e-4,
                                                                rtol=1e-4)
    scale = want.abs().max()
    torch.testing.assert_close(dx.double() / scale, want / scale, **tol)
