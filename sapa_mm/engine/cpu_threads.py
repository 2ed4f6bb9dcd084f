"""Torch's CPU thread count for the tools on a shared machine.

PyTorch runs one intra-op thread per core, and every parallel region ends
at a barrier: where another process keeps a core busy, each region waits
for the thread that shares that core to get a time slice, and a training
iteration of thousands of regions runs many times slower (measured in
docs/benchmark.md). :class:`SharedCPUThreadsHook` gives torch
the CPUs that other processes leave idle instead, measured from
``/proc/stat`` while the runner works, and follows the load as it changes.
``OMP_NUM_THREADS`` fixes the count (torchrun sets it to 1 per process
where it starts several), and the hook is then not used.
"""
import os
import time
from typing import Dict, Optional, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

PROC_STAT = '/proc/stat'


def usable_cpus() -> set:
    """The CPUs this process may run on."""
    if hasattr(os, 'sched_getaffinity'):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def threads_fixed_by_environment() -> Optional[int]:
    """``OMP_NUM_THREADS`` where it is set to a positive int."""
    value = os.environ.get('OMP_NUM_THREADS', '')
    return int(value) if value.isdigit() and int(value) > 0 else None


def _busy_and_total_ticks(cpus: set) -> Tuple[int, int]:
    """Ticks the given CPUs spent busy, and in all, since boot."""
    busy = total = 0
    with open(PROC_STAT) as f:
        for line in f:
            name, *fields = line.split()
            if not name.startswith('cpu') or name == 'cpu' or \
                    int(name[3:]) not in cpus:
                continue
            ticks = [int(v) for v in fields[:8]]
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]  # less idle, iowait
    return busy, total


class OtherLoad:
    """CPUs kept busy by other processes, on the CPUs this process may use,
    between two calls of :meth:`sample`: the busy share of those CPUs less
    this process's own CPU time."""

    def __init__(self) -> None:
        self.cpus = usable_cpus()
        self.last: Optional[Dict[str, float]] = None
        self.sample()

    def _read(self) -> Dict[str, float]:
        busy, total = _busy_and_total_ticks(self.cpus)
        return dict(busy=busy, total=total, own=time.process_time())

    def sample(self) -> Optional[float]:
        """Other processes' CPUs since the last call (None on the first)."""
        now = self._read()
        last, self.last = self.last, now
        if last is None or now['total'] <= last['total']:
            return None
        share = (now['busy'] - last['busy']) / (now['total'] - last['total'])
        # total ticks run on every CPU: the interval in CPU-seconds is
        # len(cpus) times the wall time, which the ratio turns into CPUs.
        wall = (now['total'] - last['total']) / len(self.cpus) / \
            os.sysconf('SC_CLK_TCK')
        own = (now['own'] - last['own']) / wall if wall > 0 else 0.0
        return max(0.0, share * len(self.cpus) - own)


@HOOKS.register_module()
class SharedCPUThreadsHook(Hook):
    """Sets torch's intra-op threads to the usable CPUs that other processes
    leave idle (at least one), at the start of the run and then every
    ``interval`` seconds. Added to CPU runs by
    :func:`sapa_mm.engine.runner.build_runner` where ``OMP_NUM_THREADS`` is
    unset and ``/proc/stat`` exists (Linux).

    Args:
        interval: seconds between two measurements.
        first_sample: seconds measured before the run starts.
    """

    priority = 'VERY_LOW'

    def __init__(self, interval: float = 5.0,
                 first_sample: float = 0.25) -> None:
        self.interval = interval
        self.first_sample = first_sample
        self.load: Optional[OtherLoad] = None
        self.last = 0.0

    @staticmethod
    def available() -> bool:
        return os.path.exists(PROC_STAT)

    def _adjust(self, runner) -> None:
        others = self.load.sample()
        self.last = time.monotonic()
        if others is None:
            return
        cpus = len(self.load.cpus)
        threads = max(1, cpus - int(others + 0.5))
        if threads != torch.get_num_threads():
            runner.logger.info(
                f'torch CPU threads: {torch.get_num_threads()} -> {threads} '
                f'(other processes busy on {others:.1f} of {cpus} CPUs; '
                f'OMP_NUM_THREADS=N fixes the count)')
            torch.set_num_threads(threads)

    def before_run(self, runner) -> None:
        self.load = OtherLoad()
        time.sleep(self.first_sample)
        self._adjust(runner)

    def _maybe_adjust(self, runner, *args, **kwargs) -> None:
        if time.monotonic() - self.last >= self.interval:
            self._adjust(runner)

    after_train_iter = after_val_iter = after_test_iter = _maybe_adjust
