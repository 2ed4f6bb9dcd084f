"""sapa_mm.engine.cpu_threads: torch's thread count on a busy machine, from
the other processes' load in CPUs, unless OMP_NUM_THREADS fixes it."""
import types

import pytest
import torch

pytest.importorskip('mmengine')
from sapa_mm.engine import cpu_threads  # noqa: E402


@pytest.mark.skipif(not cpu_threads.SharedCPUThreadsHook.available(),
                    reason='needs /proc/stat (Linux)')
def test_other_load_is_measured_in_cpus():
    load = cpu_threads.OtherLoad()
    x = torch.randn(256, 256)
    for _ in range(50):
        x = (x @ x).tanh()  # our own work is not counted as other load
    others = load.sample()
    assert others is None or 0 <= others <= len(load.cpus) + 0.5


class FakeLoad:

    def __init__(self, others, cpus=4):
        self.others = others
        self.cpus = set(range(cpus))

    def sample(self):
        return self.others


@pytest.mark.parametrize('others, threads', [(0.0, 4), (0.4, 4), (0.6, 3),
                                             (1.0, 3), (2.2, 2), (9.0, 1)])
def test_shared_cpu_threads_hook_leaves_busy_cpus(others, threads):
    hook = cpu_threads.SharedCPUThreadsHook()
    hook.load = FakeLoad(others)
    logged = []
    runner = types.SimpleNamespace(logger=types.SimpleNamespace(
        info=logged.append))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        hook._adjust(runner)
        assert torch.get_num_threads() == threads
        assert bool(logged) == (threads != 4)
        if logged:
            assert 'OMP_NUM_THREADS' in logged[0]
    finally:
        torch.set_num_threads(before)


def test_threads_fixed_by_environment(monkeypatch):
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    assert cpu_threads.threads_fixed_by_environment() is None
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    assert cpu_threads.threads_fixed_by_environment() == 3
    monkeypatch.setenv('OMP_NUM_THREADS', 'auto')
    assert cpu_threads.threads_fixed_by_environment() is None
