"""The CUDA kernels on a GPU: against the CPU kernels and the CPU emulation
of the same CUDA code, in every dtype and both kernel sets, repeatable to
the bit, under torch.compile and in a CUDA graph, and the SAPA modules
against the CPU. Skipped without a GPU; `make gpu-check` runs them (with
the CUDA rows of the device-parametrized tests)."""
import os

import pytest
import torch

from sapa_mm.ops import EXT_HAS_CUDA, emulation, reference, sapa

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason='requires a CUDA GPU'),
    pytest.mark.skipif(not EXT_HAS_CUDA,
                       reason='sapa_mm._ext was built without CUDA kernels'),
]

KERNEL_SETS = ('fast', 'simple')


@pytest.fixture(params=KERNEL_SETS)
def kernels(request, monkeypatch):
    monkeypatch.setenv('SAPA_MM_CUDA_KERNELS', request.param)
    return request.param


def _inputs(B, D, C, h, w, H, W, dtype, layout=torch.contiguous_format):
    g = torch.Generator().manual_seed(0)

    def make(*size):
        t = torch.randn(*size, generator=g).to(dtype)
        return t.contiguous(memory_format=layout)

    return make(B, D, H, W), make(B, D, h, w), make(B, C, h, w)


def _sapa_and_grads(q, k, v, K, grad, fn=sapa):
    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    out = fn(q, k, v, K)
    return (out, ) + torch.autograd.grad(out, (q, k, v), grad)


@pytest.mark.parametrize(
    'dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('layout',
                         [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('K', [1, 3, 5, 7, 9])
def test_matches_the_reference(kernels, dtype, layout, K, tolerances):
    """Odd sizes, channel counts off every vector width; K=9 takes the simple
    kernels in either set. Low precision against the float64 reference of
    the same rounded inputs, scaled by the largest gradient."""
    q, k, v = _inputs(2, 19, 37, 13, 17, 27, 35, dtype, layout)
    grad = torch.randn(2, 37, 27, 35, dtype=torch.float64)
    got = _sapa_and_grads(q.cuda(), k.cuda(), v.cuda(), K,
                          grad.to('cuda', dtype))
    want = _sapa_and_grads(q.double(), k.double(), v.double(), K, grad,
                           reference.sapa)
    tol = tolerances[dtype]
    for a, b in zip(got, want):
        assert a.dtype == dtype
        assert a.is_contiguous(memory_format=layout)
        scale = max(b.abs().max().item(), 1.0)
        torch.testing.assert_close(a.cpu().double(), b,
                                   atol=tol['atol'] * scale, rtol=tol['rtol'])


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_matches_its_cpu_emulation(kernels, dtype):
    """The same CUDA source on the GPU and in the CPU emulation."""
    if not emulation.AVAILABLE:
        pytest.skip('sapa_mm._ext was built without the CUDA emulation')
    q, k, v = _inputs(2, 32, 64, 24, 20, 48, 40, dtype)
    grad = torch.randn(2, 64, 48, 40).to(dtype)
    on_gpu = _sapa_and_grads(q.cuda(), k.cuda(), v.cuda(), 5, grad.cuda())
    with emulation.cuda_emulation(kernels):
        emulated = _sapa_and_grads(q, k, v, 5, grad)
    tol = dict(atol=1e-4, rtol=1e-4) if dtype == torch.float32 else dict(
        atol=2e-2, rtol=1e-2)
    for a, b in zip(on_gpu, emulated):
        torch.testing.assert_close(a.cpu().float(), b.float(), **tol)


def test_bitwise_repeatable(kernels):
    """No atomics: two runs give the same bits."""
    q, k, v = (t.cuda() for t in _inputs(2, 32, 256, 64, 64, 128, 128,
                                         torch.float32))
    grad = torch.randn(2, 256, 128, 128, device='cuda')
    first = _sapa_and_grads(q, k, v, 5, grad)
    second = _sapa_and_grads(q, k, v, 5, grad)
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def test_fast_and_simple_kernels_agree():
    q, k, v = (t.cuda() for t in _inputs(2, 32, 96, 30, 22, 60, 44,
                                         torch.float32))
    grad = torch.randn(2, 96, 60, 44, device='cuda')
    results = {}
    for name in KERNEL_SETS:
        os.environ['SAPA_MM_CUDA_KERNELS'] = name
        try:
            results[name] = _sapa_and_grads(q, k, v, 5, grad)
        finally:
            del os.environ['SAPA_MM_CUDA_KERNELS']
    for a, b in zip(results['fast'], results['simple']):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_other_device_and_stream(kernels):
    """The kernels run on the tensors' device and the current stream."""
    q, k, v = (t.cuda() for t in _inputs(1, 8, 16, 9, 7, 18, 14,
                                         torch.float32))
    expected = sapa(q, k, v, 5)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        out = sapa(q, k, v, 5)
    torch.cuda.current_stream().wait_stream(stream)
    assert torch.equal(out, expected)
    if torch.cuda.device_count() > 1:
        with torch.cuda.device(1):
            torch.testing.assert_close(
                sapa(q, k, v, 5), expected)  # tensors on device 0


def test_torch_compile(kernels):
    q, k, v = (t.cuda() for t in _inputs(2, 16, 32, 12, 10, 24, 20,
                                         torch.float32))
    grad = torch.randn(2, 32, 24, 20, device='cuda')
    expected = _sapa_and_grads(q, k, v, 5, grad)
    compiled = torch.compile(lambda a, b, c: sapa(a, b, c, 5))
    q2, k2, v2 = (t.detach().requires_grad_() for t in (q, k, v))
    out = compiled(q2, k2, v2)
    got = (out, ) + torch.autograd.grad(out, (q2, k2, v2), grad)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_cuda_graph_capture(kernels):
    """Forward and backward capture into a CUDA graph (no host syncs, the
    current stream) and replay to the eager result."""
    q, k, v = (t.cuda() for t in _inputs(2, 16, 32, 12, 10, 24, 20,
                                         torch.float32))
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    grad = torch.randn(2, 32, 24, 20, device='cuda')
    expected = _sapa_and_grads(q, k, v, 5, grad)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up, as torch.cuda.graph asks
        for _ in range(2):
            _sapa_and_grads(q, k, v, 5, grad)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = sapa(q, k, v, 5)
        grads = torch.autograd.grad(out, (q, k, v), grad)
    graph.replay()
    torch.cuda.synchronize()
    for a, b in zip((out, ) + grads, expected):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('variant', ['I', 'B', 'G'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_sapa_modules_match_cpu(kernels, variant, dtype):
    pytest.importorskip('mmengine')
    from sapa_mm.models import SAPA
    layer = SAPA(32, 32, variant=variant)
    x = torch.randn(2, 32, 43, 32)
    guide = torch.randn(2, 32, 86, 63)  # odd sizes, as mmseg's whole test
    grad = torch.randn(2, 32, 86, 63)
    results = []
    for device in ('cpu', 'cuda'):
        module = layer.to(device, dtype)
        xs, gs = (t.to(device, dtype).requires_grad_() for t in (x, guide))
        out = module(xs, gs)
        grads = torch.autograd.grad(out, [xs, gs, *module.parameters()],
                                    grad.to(device, dtype))
        results.append([t.float().cpu() for t in (out, ) + grads])
    tol = dict(atol=1e-3, rtol=1e-3) if dtype == torch.float32 else dict(
        atol=1e-1, rtol=5e-2)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **tol)


def test_sapa_module_under_autocast():
    pytest.importorskip('mmengine')
    from sapa_mm.models import SAPA
    layer = SAPA(32, 32, variant='B').cuda()
    x = torch.randn(2, 32, 20, 20, device='cuda', requires_grad=True)
    guide = torch.randn(2, 32, 40, 40, device='cuda', requires_grad=True)
    expected = layer(x, guide)
    for dtype in (torch.float16, torch.bfloat16):
        with torch.autocast('cuda', dtype=dtype):
            out = layer(x, guide)
        assert out.dtype == dtype
        out.float().sum().backward()
        torch.testing.assert_close(out.float(), expected, atol=0.1, rtol=0.05)


def test_reference_fallback_is_not_used():
    """With CUDA kernels built, nothing warns of the reference."""
    import warnings
    q, k, v = (t.cuda() for t in _inputs(1, 4, 4, 3, 3, 6, 6,
                                         torch.float32))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = sapa(q, k, v, 3)
    torch.testing.assert_close(out.cpu(),
                               reference.sapa(q.cpu(), k.cpu(), v.cpu(), 3))
