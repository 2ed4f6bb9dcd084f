"""Fixtures of the upsampler tests: parameter counts, and the checks the
paper's other baselines (IndexNet, A2U) share: their steps written out, at
the paper's size, in low precision and on a GPU."""
import pytest
import torch
import torch.nn.functional as F

# (h, w) -> (H, W): exact 2x; odd guides of a ceil-mode encoder (mmseg's
# 'whole' test mode); ratios other than 2 (reassembled by aggregate).
BASELINE_SIZES = [(3, 4, 6, 8), (3, 4, 5, 7), (2, 2, 3, 4), (2, 3, 7, 9),
                  (1, 1, 2, 2)]


@pytest.fixture(scope='session')
def n_params():
    """n_params(module): its number of parameters."""

    def n_params(module):
        return sum(p.numel() for p in module.parameters())

    return n_params


@pytest.fixture(params=BASELINE_SIZES,
                ids=['-'.join(map(str, s)) for s in BASELINE_SIZES])
def baseline_size(request):
    """(h, w, H, W) of x and the guide, for the baselines' steps."""
    return request.param


@pytest.fixture(params=[(16, 12, 32, 24), (43, 32, 85, 64)],
                ids=['2x', 'odd'])
def paper_size(request):
    """(h, w, H, W) at the paper's C = Cg = 256: 2x and an odd size."""
    return request.param


@pytest.fixture(scope='session')
def even_padded():
    """even_padded(guide): the guide with a zero row / column appended where
    H / W is odd."""

    def even_padded(guide):
        H, W = guide.shape[-2:]
        return F.pad(guide, (0, W % 2, 0, H % 2))

    return even_padded


@pytest.fixture(scope='session')
def randomize():
    """randomize(layer): non-trivial weights and BatchNorm statistics, in
    float64."""

    def randomize(layer):
        layer.double()
        for p in layer.parameters():
            torch.nn.init.normal_(p, std=0.5)
        for name, b in layer.named_buffers():
            if name.endswith('running_mean'):
                torch.nn.init.normal_(b)
            elif name.endswith('running_var'):
                torch.nn.init.uniform_(b, 0.5, 2)
        return layer

    return randomize


@pytest.fixture(scope='session')
def assert_matches_steps():
    """assert_matches_steps(layer, by_steps, ((C, h, w), (Cg, H, W))): the
    layer and its steps written out give the same output (B, C, H, W) and
    the same gradients of x, the guide and the parameters, in float64."""

    def assert_matches_steps(layer, by_steps, sizes):
        (C, h, w), (Cg, H, W) = sizes
        x = torch.randn(2, C, h, w, dtype=torch.float64, requires_grad=True)
        guide = torch.randn(2, Cg, H, W, dtype=torch.float64,
                            requires_grad=True)
        out = layer(x, guide)
        expected = by_steps(layer, x, guide)
        assert out.shape == (2, C, H, W)
        torch.testing.assert_close(out, expected)
        grad = torch.randn_like(out)
        params = [x, guide, *layer.parameters()]
        for a, b in zip(torch.autograd.grad(out, params, grad),
                        torch.autograd.grad(expected, params, grad)):
            torch.testing.assert_close(a, b)

    return assert_matches_steps


@pytest.fixture(scope='session')
def check_forward_backward():
    """check_forward_backward(cls, h, w, H, W): at the paper's C = Cg = 256
    every parameter and both inputs get a finite, non-zero gradient."""

    def check_forward_backward(cls, h, w, H, W):
        layer = cls(256)
        x = torch.randn(2, 256, h, w, requires_grad=True)
        guide = torch.randn(2, 256, H, W, requires_grad=True)
        out = layer(x, guide)
        assert out.shape == (2, 256, H, W) and out.dtype == torch.float32
        out.square().mean().backward()
        for t in (x, guide, *layer.parameters()):
            assert t.grad is not None and torch.isfinite(t.grad).all()
            assert t.grad.abs().sum() > 0

    return check_forward_backward


@pytest.fixture(scope='session')
def check_low_precision_and_autocast():
    """check_low_precision_and_autocast(cls): under bfloat16 autocast and in
    bfloat16, cls(32) gives bfloat16 close to float32."""

    def check_low_precision_and_autocast(cls):
        layer = cls(32).eval()
        x, guide = torch.randn(2, 32, 5, 6), torch.randn(2, 32, 9, 12)
        expected = layer(x, guide)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = layer(x, guide)
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.float(), expected, atol=1e-1,
                                   rtol=5e-2)
        out = layer.to(torch.bfloat16)(x.bfloat16(), guide.bfloat16())
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.float(), expected, atol=1e-1,
                                   rtol=5e-2)

    return check_low_precision_and_autocast


@pytest.fixture(scope='session')
def check_on_cuda():
    """check_on_cuda(cls): cls(64) on a GPU as on the CPU, forward and
    backward, at 2x, odd and other ratios."""

    def check_on_cuda(cls):
        layer = cls(64).eval()
        for h, w, H, W in ((9, 7, 18, 14), (9, 7, 17, 13), (5, 4, 13, 11)):
            x = torch.randn(2, 64, h, w, requires_grad=True)
            guide = torch.randn(2, 64, H, W, requires_grad=True)
            out = layer(x, guide)
            grads = torch.autograd.grad(out.sum(), (x, guide))
            x_cuda = x.detach().cuda().requires_grad_()
            guide_cuda = guide.detach().cuda().requires_grad_()
            out_cuda = layer.cuda()(x_cuda, guide_cuda)
            grads_cuda = torch.autograd.grad(out_cuda.sum(),
                                             (x_cuda, guide_cuda))
            layer.cpu()
            torch.testing.assert_close(out_cuda.cpu(), out, atol=1e-4,
                                       rtol=1e-4)
            for a, b in zip(grads_cuda, grads):
                torch.testing.assert_close(a.cpu(), b, atol=1e-3, rtol=1e-3)

    return check_on_cuda
