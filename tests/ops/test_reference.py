"""sapa_mm.ops.reference, the oracle: its window gather is the adjoint of
its aggregate, its channel LayerNorm and projection are F.layer_norm and
F.linear over channels, and it calls no sapa_mm op (so it cannot share a
bug with the kernels it checks)."""
import inspect

import torch
import torch.nn.functional as F

from sapa_mm.ops import reference


def test_reference_window_gather_is_the_transpose(make_inputs):
    """The fallback backward uses window_gather; it must be the adjoint."""
    K, (h, w) = 5, (3, 4)
    _, _, v, wt = make_inputs(2, 1, 6, h, w, 7, 9, K, dtype=torch.float64)
    v.requires_grad_()
    out = reference.aggregate(wt, v, K)
    grad = torch.randn_like(out)
    (expected, ) = torch.autograd.grad(out, v, grad)
    torch.testing.assert_close(
        reference.window_gather(wt, grad, (h, w), K), expected)


def test_channel_layer_norm_and_linear_over_channels():
    """LayerNorm and a linear over the channels of (B, C, H, W), with and
    without affine parameters and bias, equal F.layer_norm and F.linear on
    the channels-last view."""
    x = torch.randn(2, 6, 3, 5, dtype=torch.float64) * 2 + 3
    weight, bias = torch.randn(6, dtype=torch.float64), torch.randn(
        6, dtype=torch.float64)
    w, b = torch.randn(4, 6, dtype=torch.float64), torch.randn(
        4, dtype=torch.float64)
    xl = x.permute(0, 2, 3, 1)
    for affine in ((weight, bias), (None, None)):
        torch.testing.assert_close(
            reference.channel_layer_norm(x, *affine, 1e-5),
            F.layer_norm(xl, (6, ), *affine, 1e-5).permute(0, 3, 1, 2))
    torch.testing.assert_close(reference.channel_linear(x, w, b),
                               F.linear(xl, w, b).permute(0, 3, 1, 2))
    torch.testing.assert_close(reference.channel_linear(x, w),
                               F.linear(xl, w).permute(0, 3, 1, 2))


def test_reference_calls_no_sapa_mm_op(sapa_mm_ops):
    """Neither its source nor what it dispatches, forward and backward, has
    a sapa_mm op."""
    assert 'torch.ops' not in inspect.getsource(reference)
    K = 3
    q = torch.randn(2, 4, 7, 9, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 4, 4, 5, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(2, K * K, 7, 9, dtype=torch.float64).softmax(1)
    wt.requires_grad_()
    w = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    with sapa_mm_ops() as seen:
        outputs = [
            reference.similarity(q, k, K),
            reference.aggregate(wt, v, K),
            reference.sapa(q, k, v, K),
            reference.window_gather(wt, q, (4, 5), K),
            reference.channel_linear(
                reference.channel_layer_norm(q, None, None, 1e-5), w),
        ]
        sum(o.sum() for o in outputs).backward()
    assert all(t.grad is not None for t in (q, k, v, wt, w))
    assert seen == []
