"""sapa_mm.ops.functional: similarity, aggregate, sapa and nearest_upsample
on every backend against the pure-PyTorch reference, their gradients, the
index mapping, the input validation and the choice of backend."""
import pytest
import torch

import sapa_mm.ops as ops
from sapa_mm.ops import aggregate, reference, sapa, similarity

# (h, w, H, W): 1x1, non-square, exact 2x, non-multiples (mmseg's odd test
# sizes), equal sizes and larger ratios.
SIZES = [(1, 1, 1, 1), (1, 1, 3, 2), (3, 5, 6, 10), (3, 5, 7, 11),
         (4, 6, 8, 12), (5, 4, 5, 4), (2, 3, 9, 7), (9, 8, 17, 16)]
KERNEL_SIZES = [1, 3, 5, 7]


@pytest.mark.parametrize('h,w,H,W', SIZES)
@pytest.mark.parametrize('K', KERNEL_SIZES)
def test_forward_backward_match_reference(device, h, w, H, W, K, make_inputs,
                                          assert_close):
    # D=3 and C=17 leave tails after any vector width.
    q, k, v, wt = make_inputs(2, 3, 17, h, w, H, W, K, device=device)
    for t in (q, k, v, wt):
        t.requires_grad_()
    outputs = (similarity(q, k, K, backend='auto'),
               aggregate(wt, v, K, backend='auto'),
               sapa(q, k, v, K, backend='auto'))
    expected = (reference.similarity(q, k, K), reference.aggregate(wt, v, K),
                reference.sapa(q, k, v, K))
    for out, ref in zip(outputs, expected):
        assert out.shape == ref.shape
        assert_close(out, ref, torch.float32)
        grad = torch.randn_like(ref)
        inputs = [t for t in (q, k, v, wt)]
        got = torch.autograd.grad(out, inputs, grad, allow_unused=True)
        want = torch.autograd.grad(ref, inputs, grad, allow_unused=True)
        for g_got, g_want in zip(got, want):
            assert (g_got is None) == (g_want is None)
            if g_got is not None:
                assert_close(g_got, g_want, torch.float32)


@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('h,w,H,W', [(3, 5, 7, 11), (8, 8, 16, 16)])
def test_dtypes(device, dtype, h, w, H, W, make_inputs, assert_close,
                tolerances):
    K = 5
    q, k, v, _ = make_inputs(2, 32, 40, h, w, H, W, K, dtype=dtype,
                             device=device)
    for t in (q, k, v):
        t.requires_grad_()
    out = sapa(q, k, v, K)
    assert out.dtype == dtype
    q32, k32, v32 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref = reference.sapa(q32, k32, v32, K)
    assert_close(out, ref, dtype)
    grad = torch.randn_like(ref)
    got = torch.autograd.grad(out, (q, k, v), grad.to(dtype))
    want = torch.autograd.grad(ref, (q32, k32, v32), grad)
    for g_got, g_want in zip(got, want):
        assert g_got.dtype == dtype
        # Gradients sum K*K*D products: scale the tolerance with them.
        scale = g_want.abs().max().item()
        tol = tolerances[dtype]
        torch.testing.assert_close(
            g_got.double(), g_want, atol=tol['atol'] * scale,
            rtol=tol['rtol'])


@pytest.mark.parametrize('query_format', ['planar', 'channels_last'])
@pytest.mark.parametrize('value_format',
                         ['planar', 'channels_last', 'strided'])
@pytest.mark.parametrize('grad_format', ['planar', 'channels_last', 'strided'])
def test_memory_formats_and_strides(device, query_format, value_format,
                                    grad_format, make_inputs, assert_close,
                                    formats):
    """Each layout takes its own code path in the kernels (planar rows are
    transposed on the fly): all agree with the reference, and results come
    in the memory format of the input they correspond to."""
    K = 3
    q, k, v, _ = make_inputs(2, 6, 19, 5, 7, 10, 13, K, device=device)
    q, k = (formats(t)[query_format].requires_grad_() for t in (q, k))
    v = formats(v)[value_format].requires_grad_()
    out = sapa(q, k, v, K)
    expected = reference.sapa(q, k, v, K)
    assert_close(out, expected, torch.float32)
    is_channels_last = value_format == 'channels_last'
    assert out.is_contiguous(memory_format=torch.channels_last) == \
        is_channels_last
    assert out.is_contiguous() != is_channels_last
    grad = formats(torch.randn_like(expected))[grad_format]
    got = torch.autograd.grad(out, (q, k, v), grad)
    want = torch.autograd.grad(expected, (q, k, v), grad)
    for g_got, g_want, t in zip(got, want, (q, k, v)):
        assert_close(g_got, g_want, torch.float32)
        assert g_got.is_contiguous(memory_format=torch.channels_last) == \
            t.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.usefixtures('needs_ext')
@pytest.mark.parametrize('K', [1, 3, 5])
def test_gradcheck(K, make_inputs):
    q, k, v, wt = make_inputs(2, 3, 4, 2, 3, 4, 5, K, dtype=torch.float64)
    for t in (q, k, v, wt):
        t.requires_grad_()
    be = 'extension'
    assert torch.autograd.gradcheck(
        lambda a, b: similarity(a, b, K, backend=be), (q, k))
    assert torch.autograd.gradcheck(
        lambda a, b: aggregate(a, b, K, backend=be), (wt, v))
    assert torch.autograd.gradcheck(
        lambda a, b, c: sapa(a, b, c, K, backend=be), (q, k, v))


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


@pytest.mark.parametrize('h,w,H,W', [(4, 6, 8, 12), (3, 5, 9, 5),
                                     (4, 6, 7, 13), (1, 1, 5, 3),
                                     (86, 64, 171, 128)])
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


def test_empty_batch(make_inputs):
    q, k, v, _ = make_inputs(0, 4, 4, 3, 3, 6, 6, 3)
    assert sapa(q, k, v, 3).shape == (0, 4, 6, 6)


# --- validation ------------------------------------------------------------


@pytest.fixture
def valid(make_inputs):
    return make_inputs(2, 4, 6, 3, 5, 6, 10, 3)


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
def test_validation(valid, make, error, match):
    with pytest.raises(error, match=match):
        make(*valid)


def test_extension_backend_without_kernels(valid):
    q, k, v, _ = valid
    if ops.HAS_EXT:
        sapa(q, k, v, 3, backend='extension')
    else:
        with pytest.raises(NotImplementedError, match='pip install'):
            sapa(q, k, v, 3, backend='extension')
