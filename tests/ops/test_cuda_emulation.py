"""The CPU emulation of the CUDA code path: it catches the faults it claims to
catch, and the CUDA kernels it runs are deterministic, agree between the
fast and simple sets and pass gradcheck. (Every test that takes a device
also runs on the emulation: the `device` fixture of tests/conftest.py.)"""
import os

import pytest
import torch

from sapa_mm.ops import aggregate, emulation, reference, sapa, similarity

pytestmark = pytest.mark.skipif(
    not emulation.AVAILABLE,
    reason='sapa_mm._ext was built without the CUDA emulation')

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope='module')
def faults(tmp_path_factory, repo_root):
    """tests/ops/emulation_faults.cpp, built against the emulator's
    sources."""
    from torch.utils.cpp_extension import load
    return load(
        name='sapa_mm_emulation_faults',
        sources=[
            os.path.join(HERE, 'emulation_faults.cpp'),
            os.path.join(repo_root, 'ops', 'emulation', 'host_runtime.cpp')
        ],
        extra_include_paths=[os.path.join(repo_root, 'ops', 'include')],
        extra_cflags=['-O1'],
        build_directory=str(tmp_path_factory.mktemp('faults')))


def test_correct_kernels_pass(faults):
    x = torch.arange(3 * 64, dtype=torch.float32)
    blocks = x.view(3, 64)
    out = faults.run('rotate', x, 3).view(3, 64)
    assert torch.equal(out, blocks.roll(-1, dims=1))
    # A grid smaller than the work: the grid-stride loop covers it.
    assert torch.equal(faults.run('copy', x, 2), x)


@pytest.mark.parametrize('kernel, message', [
    # Thread 0 reads its neighbour's element before the neighbour wrote it.
    ('missing_barrier', 'thread 0: reads shared-memory element 1, which no '
     'thread of this block has written'),
    # After the second barrier thread 0 writes its element and reads
    # element 1, which thread 1 then overwrites.
    ('race_in_second_round', 'thread 1: shared-memory race: writes element '
     '1, which thread 0 read since the last barrier'),
    ('shared_out_of_bounds', r'shared-memory read at index 64, outside '
     r'\[0, 64\)'),
    ('uninitialised_shared', 'which no thread of this block has written'),
    ('divergent_barrier', r'barrier divergence, 32 of 64 threads wait'),
    ('undeclared_barrier', r"calls sync\(\) but its kSyncs is false"),
    ('misaligned_vector', 'not 16-byte aligned'),
    ('global_out_of_bounds', r'global load from in\[192\] outside its valid '
     r'range \[0, 192\)'),
    ('double_write', r'writes out\[4\], which another thread'),
    ('unwritten', r'1 of 192 elements of out were left unwritten, the first '
     r'at index 191'),
])
def test_planted_faults_are_caught(faults, kernel, message):
    with pytest.raises(RuntimeError, match=message):
        faults.run(kernel, torch.zeros(3 * 64), 3)


def _sapa_grads(q, k, v):
    out = sapa(q, k, v, 5)
    grad = torch.linspace(-1, 1, out.numel()).view_as(out).to(out.dtype)
    return (out, ) + torch.autograd.grad(out, (q, k, v), grad)


def _inputs(dtype=torch.float32, layout=torch.contiguous_format):
    q = torch.randn(2, 16, 23, 18, dtype=dtype).contiguous(
        memory_format=layout).requires_grad_()
    k = torch.randn(2, 16, 11, 9, dtype=dtype).contiguous(
        memory_format=layout).requires_grad_()
    v = torch.randn(2, 40, 11, 9, dtype=dtype).contiguous(
        memory_format=layout).requires_grad_()
    return q, k, v


@pytest.mark.parametrize('kernels', emulation.KERNELS)
def test_deterministic_across_grids_and_threads(kernels,
                                                emulation_max_blocks):
    """No atomics: any grid, any number of host threads running the blocks,
    the same bits. (The simple set's softmax is ATen's, whose CPU backward
    depends on the thread count, unlike its CUDA one: that set keeps one
    thread count.)"""
    q, k, v = _inputs()
    results = []
    threads = torch.get_num_threads()
    other_threads = 1 if kernels == 'fast' else threads
    try:
        for max_blocks, n_threads in ((0, threads),
                                      (emulation_max_blocks, other_threads),
                                      (1, threads)):
            torch.set_num_threads(n_threads)
            with emulation.cuda_emulation(kernels, max_blocks):
                results.append(_sapa_grads(q, k, v))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(a, b)


@pytest.mark.parametrize('layout',
                         [torch.contiguous_format, torch.channels_last])
def test_fast_and_simple_kernels_agree(layout, emulation_max_blocks):
    q, k, v = _inputs(torch.float32, layout)
    with emulation.cuda_emulation('fast', emulation_max_blocks):
        fast = _sapa_grads(q, k, v)
    with emulation.cuda_emulation('simple', emulation_max_blocks):
        simple = _sapa_grads(q, k, v)
    for a, b in zip(fast, simple):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
        assert a.is_contiguous(memory_format=layout)


@pytest.mark.parametrize('kernels', emulation.KERNELS)
@pytest.mark.parametrize('K', [1, 3, 5])
def test_gradcheck(kernels, K, emulation_max_blocks):
    q = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(2, K * K, 4, 5, dtype=torch.float64, requires_grad=True)
    with emulation.cuda_emulation(kernels, emulation_max_blocks):
        assert torch.autograd.gradcheck(
            lambda a, b: similarity(a, b, K), (q, k))
        assert torch.autograd.gradcheck(
            lambda a, b: aggregate(a, b, K), (wt, v))
        assert torch.autograd.gradcheck(
            lambda a, b, c: sapa(a, b, c, K), (q, k, v))


@pytest.mark.parametrize('kernels', emulation.KERNELS)
def test_only_the_needed_gradients(kernels, emulation_max_blocks):
    """A frozen input gets no gradient computed; the others are unchanged."""
    q, k, v = _inputs()
    with emulation.cuda_emulation(kernels, emulation_max_blocks):
        out = sapa(q, k, v, 5)
        full = torch.autograd.grad(out.sum(), (q, k, v))
        for needed in ((q, ), (k, ), (v, ), (q, v)):
            got = torch.autograd.grad(sapa(q, k, v, 5).sum(), needed)
            for g, t in zip(got, needed):
                index = [t is x for x in (q, k, v)].index(True)
                assert torch.equal(g, full[index])
        ops = torch.ops.sapa_mm
        weights = ops.similarity_softmax(q, k, 5)
        grad = torch.randn_like(weights)
        grad_q, grad_k = ops.similarity_softmax_backward(
            grad, weights, q, k, 5, [True, False])
        assert grad_k is None and grad_q.shape == q.shape
        grad_w, grad_v = ops.aggregate_backward(
            torch.randn(2, 40, 23, 18), weights, v, 5, [False, True])
        assert grad_w is None and grad_v.shape == v.shape


def test_large_kernels_take_the_simple_kernels(emulation_max_blocks):
    """The fast kernels unroll up to 7 x 7; a 9 x 9 window runs on the
    simple ones, with the same result."""
    q, k, v = _inputs()
    with emulation.cuda_emulation('fast', emulation_max_blocks):
        out = sapa(q, k, v, 9)
    torch.testing.assert_close(out, reference.sapa(q, k, v, 9))


def test_bad_arguments():
    with pytest.raises(ValueError, match="kernels must be one of"):
        with emulation.cuda_emulation('tiled'):
            pass


@pytest.mark.parametrize(
    'dtype', [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize('C', [16, 40, 19])
@pytest.mark.parametrize('K', [3, 7])
def test_channels_last_vector_paths(dtype, C, K, emulation_max_blocks):
    """Channels-last features move a vector of channels at a time where C
    and the pointers allow (16 and 40: every vector width divides them; 19:
    scalar code), with half-width vectors for 7 x 7 windows; the emulator
    checks every vector access's alignment and bounds."""
    layout = torch.channels_last
    q = torch.randn(2, C, 13, 11).to(dtype).contiguous(memory_format=layout)
    k = torch.randn(2, C, 7, 6).to(dtype).contiguous(memory_format=layout)
    v = torch.randn(2, C, 7, 6).to(dtype).contiguous(memory_format=layout)
    grad = torch.randn(2, C, 13, 11, dtype=torch.float64)
    tensors = [t.requires_grad_() for t in (q, k, v)]
    with emulation.cuda_emulation('fast', emulation_max_blocks):
        out = sapa(*tensors, K)
        got = (out, ) + torch.autograd.grad(out, tensors, grad.to(dtype))
    exact = [t.detach().double().requires_grad_() for t in tensors]
    want = reference.sapa(*exact, K)
    want = (want, ) + torch.autograd.grad(want, exact, grad)
    tol = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 2e-2,
           torch.bfloat16: 1e-1}[dtype]
    for a, b in zip(got, want):
        assert a.is_contiguous(memory_format=layout)
        scale = max(b.abs().max().item(), 1.0)
        torch.testing.assert_close(a.double(), b, atol=tol * scale,
                                   rtol=tol)
