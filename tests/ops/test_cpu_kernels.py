"""The compiled CPU kernels: the same bits on any number of threads, and the
portable (non-AVX2) copy of them passing the op tests."""
import os
import subprocess
import sys

import pytest
import torch

from sapa_mm.ops import sapa

HERE = os.path.dirname(os.path.abspath(__file__))
# The op tests that the portable copy of the kernels runs, by file and by
# name.
PORTABLE_TESTS = ['test_functional.py', 'test_fallback.py', 'test_library.py',
                  'test_cpu_kernels.py']
PORTABLE_SELECTION = (
    '(match_reference or dtypes or memory_formats or deterministic or '
    'channel_stats or channel_norm_backward or extreme_values or '
    'linear_norm) and not cuda_emulation')


@pytest.mark.usefixtures('needs_ext')
def test_deterministic_across_threads(make_inputs):
    q, k, v, _ = make_inputs(2, 8, 16, 12, 10, 23, 20, 5)
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


@pytest.mark.usefixtures('needs_ext')
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
        [sys.executable, '-m', 'pytest',
         *(os.path.join(HERE, name) for name in PORTABLE_TESTS), '-q', '-x',
         '-p', 'no:cacheprovider', '-k', PORTABLE_SELECTION],
        env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]
