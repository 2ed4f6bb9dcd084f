"""The CUDA sources compile on machines without a GPU (nvcc against torch's
headers), and run against the CPU kernels where a GPU is present."""
import os
import shutil
import subprocess

import pytest
import torch
from torch.utils.cpp_extension import include_paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which('nvcc') is None, reason='nvcc not found')
def test_cuda_kernels_compile(tmp_path):
    """sapa_cuda.cu includes only ATen core headers and cuda_runtime.h, so it
    compiles against a CPU-only torch wheel as well."""
    cmd = ['nvcc', '-c', '-std=c++17', '--expt-relaxed-constexpr',
           '-I', os.path.join(ROOT, 'ops', 'include')]
    for path in include_paths():
        cmd += ['-I', path]
    cmd += [os.path.join(ROOT, 'ops', 'cuda', 'sapa_cuda.cu'),
            '-o', str(tmp_path / 'sapa_cuda.o')]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / 'sapa_cuda.o').stat().st_size > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason='requires CUDA')
def test_cuda_kernels_match_cpu_kernels():
    from sapa_mm.ops import EXT_HAS_CUDA, aggregate, similarity
    if not EXT_HAS_CUDA:
        pytest.skip('sapa_mm._ext was built without CUDA')
    q = torch.randn(2, 32, 37, 50)
    k = torch.randn(2, 32, 19, 25)
    w = torch.randn(2, 25, 37, 50).softmax(1)
    v = torch.randn(2, 64, 19, 25)
    for fn, args in ((similarity, (q, k)), (aggregate, (w, v))):
        cpu_args = [a.clone().requires_grad_() for a in args]
        cuda_args = [a.cuda().requires_grad_() for a in args]
        out_cpu = fn(*cpu_args, 5, backend='extension')
        out_cuda = fn(*cuda_args, 5, backend='extension')
        torch.testing.assert_close(out_cuda.cpu(), out_cpu, atol=1e-4,
                                   rtol=1e-4)
        grad = torch.randn_like(out_cpu)
        g_cpu = torch.autograd.grad(out_cpu, cpu_args, grad)
        g_cuda = torch.autograd.grad(out_cuda, cuda_args, grad.cuda())
        for a, b in zip(g_cuda, g_cpu):
            torch.testing.assert_close(a.cpu(), b, atol=1e-4, rtol=1e-4)
        # No atomics: the CUDA results are bitwise reproducible.
        again = fn(*cuda_args, 5, backend='extension')
        assert torch.equal(again, out_cuda)
