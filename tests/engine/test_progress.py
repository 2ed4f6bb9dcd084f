"""sapa_mm.engine.progress: the progress lines of the tools (redrawn on a
terminal, periodic in a file) and the progress reports of the train/test
tools that tools/reproduce.py turns into them."""
import io
import json
import types

import pytest

pytest.importorskip('mmengine')
from sapa_mm.engine.progress import (  # noqa: E402
    REPORT_PREFIX,
    ProgressLine,
    ProgressReportHook,
    format_duration,
    parse_report,
)


class Clock:

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr('sapa_mm.engine.progress.time.monotonic', clock)
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
