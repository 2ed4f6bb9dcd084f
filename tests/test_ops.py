"""The SAPA ops: every backend against the pure-PyTorch reference, gradients,
the index mapping, validation, and the op registration."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import DEVICES

import sapa_mm.ops as ops
from sapa_mm.ops import aggregate, reference, sapa, similarity
from sapa_mm.ops.library import SCHEMAS

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


@pytest.mark.parametrize('device', DEVICES)
def test_memory_formats_and_strides(device):
    K = 3
    q, k, v, _ = _inputs(2, 6, 10, 5, 7, 10, 13, K, device=device)
    expected = reference.sapa(q, k, v, K)
    channels_last = [t.contiguous(memory_format=torch.channels_last)
                     for t in (q, k, v)]
    # Non-contiguous: every other element of a wider tensor.
    strided = [torch.stack([t, -t], -1)[..., 0] for t in (q, k, v)]
    assert not any(t.is_contiguous() for t in strided)
    for args in (channels_last, strided):
        _assert_close(sapa(*args, K), expected, torch.float32)
    out = sapa(q, k, v, K)
    assert out.is_contiguous(memory_format=torch.channels_last)


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
    q = torch.randn(1, 4, 4, 3)
    with pytest.raises(RuntimeError, match='at least as large'):
        torch.ops.sapa_mm.similarity(q[:, :2, :2].contiguous(), q, 3)
    with pytest.raises(RuntimeError, match='contiguous'):
        torch.ops.sapa_mm.similarity(q.transpose(1, 2),
                                     q[:, :2, :2].contiguous(), 3)


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
    assert 'sapa_mm.similarity' in seen
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
