"""What the tools show in the terminal and how they share the CPU: progress
lines, the progress reports of the train/test tools, the upstream warnings
left out, and torch's thread count on a busy machine."""
import io
import json
import types
import warnings

import pytest
import torch

pytest.importorskip('mmengine')
from sapa_mm import cpu_threads  # noqa: E402
from sapa_mm.console import UPSTREAM_WARNINGS  # noqa: E402
from sapa_mm.console import quiet_upstream_warnings  # noqa: E402
from sapa_mm.progress import (REPORT_PREFIX, ProgressLine,  # noqa: E402
                              ProgressReportHook, format_duration,
                              parse_report)


class Clock:

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr('sapa_mm.progress.time.monotonic', clock)
    return clock


class Terminal(io.StringIO):

    def isatty(self):
        return True


def test_progress_line_in_a_file_is_periodic(clock):
    stream = io.StringIO()
    progress = ProgressLine('sapa-b: train', stream=stream, interval=30)
    for step in range(1, 101):
        clock.now += 1.0
        progress.update(step, 100)
    progress.close()
    lines = stream.getvalue().splitlines()
    # the first step (no rate yet), one line per 30 s, and the last step
    assert lines == [
        'sapa-b: train: 1/100 (1%)',
        'sapa-b: train: 31/100 (31%), 1.00 s/it, ETA 0:01:09',
        'sapa-b: train: 61/100 (61%), 1.00 s/it, ETA 0:00:39',
        'sapa-b: train: 91/100 (91%), 1.00 s/it, ETA 0:00:09',
        'sapa-b: train: 100/100 (100%), 1.00 s/it, ETA 0:00:00',
    ]
    assert '\r' not in stream.getvalue()


def test_progress_line_on_a_terminal_is_redrawn(clock):
    stream = Terminal()
    progress = ProgressLine('FLOPs trace', stream=stream, unit='modules',
                            prefix=lambda: '[t] ')
    for step in range(1, 4):
        clock.now += 0.5
        progress.update(step)
    progress.close()
    text = stream.getvalue()
    assert text.count('\n') == 1 and text.endswith('\n')
    assert text.split('\r')[1:] == [
        '[t] FLOPs trace: 1 modules, 0:00:00\x1b[K',
        '[t] FLOPs trace: 2 modules, 0:00:01\x1b[K',
        '[t] FLOPs trace: 3 modules, 0:00:02\x1b[K\n',
    ]


def test_progress_line_rate_from_its_first_update(clock):
    """A line that starts mid-loop (after a validation, or resuming) rates
    the steps it saw, not all steps since 0."""
    stream = io.StringIO()
    progress = ProgressLine('train', stream=stream, interval=0)
    progress.update(90, 100)
    clock.now += 5.0
    progress.update(95)
    assert stream.getvalue().splitlines() == [
        'train: 90/100 (90%)', 'train: 95/100 (95%), 1.00 s/it, ETA 0:00:05']


def test_progress_line_close_without_updates_writes_nothing():
    for stream in (io.StringIO(), Terminal()):
        ProgressLine('idle', stream=stream).close()
        assert stream.getvalue() == ''


def test_format_duration():
    assert format_duration(0) == '0:00:00'
    assert format_duration(3725.4) == '1:02:05'


def test_progress_report_hook(clock, capsys):
    hook = ProgressReportHook(interval=1.0)
    runner = types.SimpleNamespace(rank=0, iter=0, max_iters=3,
                                   val_dataloader=[0, 1],
                                   test_dataloader=[0])
    for i in range(3):
        runner.iter = i
        clock.now += 0.4
        hook.after_train_iter(runner, i)
    hook.after_val_iter(runner, 1)
    hook.after_test_iter(runner, 0)
    reports = [parse_report(line)
               for line in capsys.readouterr().out.splitlines()]
    # iteration 2 falls within a second of the first; the last ones always
    # report
    assert reports == [dict(phase='train', done=1, total=3),
                       dict(phase='train', done=3, total=3),
                       dict(phase='val', done=2, total=2),
                       dict(phase='test', done=1, total=1)]
    runner.rank = 1
    hook.after_test_iter(runner, 0)
    assert capsys.readouterr().out == ''


def test_parse_report_ignores_other_lines():
    assert parse_report('12/07 02:00:00 - mmengine - INFO - Iter [1/2]') is \
        None
    assert parse_report(REPORT_PREFIX + '{broken') is None
    assert parse_report(REPORT_PREFIX + json.dumps(dict(done=1))) == dict(
        done=1)


def test_quiet_upstream_warnings_only_those_from_upstream():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        quiet_upstream_warnings()
        for message, _ in UPSTREAM_WARNINGS:
            text = message.replace('\\', '') + ' (the rest of it)'
            warnings.warn_explicit(text, UserWarning, 'loss.py', 1,
                                   module='mmseg.models.losses.x')
            warnings.warn_explicit(text, UserWarning, 'ours.py', 1,
                                   module='sapa_mm.models.x')
        warnings.warn_explicit('another mmseg warning', UserWarning,
                               'loss.py', 2, module='mmseg.models.losses.x')
    assert sorted(str(w.message)[:7] for w in caught) == sorted(
        ['another'] + [m.replace('\\', '')[:7] for m, _ in UPSTREAM_WARNINGS])
    assert all(w.filename != 'loss.py' or 'another' in str(w.message)
               for w in caught)


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
