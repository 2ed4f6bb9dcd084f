"""Progress of long jobs in the terminal.

:class:`ProgressLine` shows "label: k/N (p%), t/it, ETA h:mm:ss": one line
rewritten in place where the stream is a terminal, a plain line every
``interval`` seconds elsewhere (CI, ``nohup``, a file), so that logs stay
readable. ``tools/reproduce.py`` (and ``make demo``) runs the train/test
tools in subprocesses whose output goes to log files; it sets
:data:`REPORT_ENV` for them, and :class:`ProgressReportHook` (added to every
runner by :func:`sapa_mm.engine.runner.build_runner`) then writes one
machine-readable report line per update to the subprocess's stdout, which
the driver turns into its own progress line (:func:`parse_report`) and leaves
out of the log.
"""
import json
import sys
import time
from typing import IO, Callable, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

#: Environment variable that asks the tools for report lines.
REPORT_ENV = 'SAPA_MM_PROGRESS_REPORT'
#: First characters of a report line.
REPORT_PREFIX = '@sapa-mm-progress '


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class ProgressLine:
    """Progress of one task of ``total`` steps on ``stream``.

    Args:
        label: what is being done, e.g. "sapa-b: train".
        total: the number of steps, if known.
        stream: where to write; defaults to sys.stdout.
        interval: seconds between lines where the stream is not a terminal
            (a terminal's line is redrawn at most ten times a second).
        prefix: callable returning text put before each line (e.g. a time
            stamp).
        unit: what a step is, e.g. 'it' (iterations) or 'modules'.
    """

    def __init__(self, label: str, total: Optional[int] = None,
                 stream: Optional[IO[str]] = None, interval: float = 30.0,
                 prefix: Callable[[], str] = lambda: '',
                 unit: str = 'it') -> None:
        self.label = label
        self.unit = unit
        self.total = total
        self.stream = stream or sys.stdout
        self.interval = interval
        self.prefix = prefix
        isatty = getattr(self.stream, 'isatty', None)
        self.tty = bool(isatty and isatty())
        self.start = time.monotonic()
        self.first: Optional[Tuple[float, int]] = None  # (time, done)
        self.last_draw = float('-inf')
        self.done = 0
        self.drawn_done = 0  # the `done` of the last line drawn

    def text(self) -> str:
        now = time.monotonic()
        if not self.total:
            return (f'{self.label}: {self.done} {self.unit}, '
                    f'{format_duration(now - self.start)}')
        s = (f'{self.label}: {self.done}/{self.total} '
             f'({100 * self.done // self.total}%)')
        # The rate since the first update: a line may start mid-loop (a
        # training resumed, or continuing after a validation).
        first_time, first_done = self.first or (now, self.done)
        if self.done > first_done:
            per_step = (now - first_time) / (self.done - first_done)
            s += (f', {per_step:.2f} s/{self.unit}, ETA '
                  f'{format_duration(per_step * (self.total - self.done))}')
        return s

    def update(self, done: int, total: Optional[int] = None) -> None:
        """``done`` steps of ``total`` (or of the total given before)."""
        now = time.monotonic()
        if self.first is None:
            self.first = (now, done)
        self.done = done
        if total is not None:
            self.total = total
        finished = self.total is not None and done >= self.total
        if now - self.last_draw < (0.1 if self.tty else self.interval) and \
                not finished:
            return
        self.last_draw = now
        self._draw()

    def _draw(self) -> None:
        line = self.prefix() + self.text()
        if self.tty:
            self.stream.write('\r' + line + '\x1b[K')
        else:
            self.stream.write(line + '\n')
        self.stream.flush()
        self.drawn_done = self.done

    def close(self) -> None:
        """Draws the final state if it is not shown yet, and ends a
        terminal's line."""
        if self.done != self.drawn_done:
            self._draw()
        if self.tty and self.done:
            self.stream.write('\n')
            self.stream.flush()


def parse_report(line: str) -> Optional[dict]:
    """A report line's ``dict(phase=..., done=..., total=...)``, or None for
    any other line."""
    if not line.startswith(REPORT_PREFIX):
        return None
    try:
        return json.loads(line[len(REPORT_PREFIX):])
    except json.JSONDecodeError:
        return None


@HOOKS.register_module()
class ProgressReportHook(Hook):
    """Writes a report line (:data:`REPORT_PREFIX` + JSON) to stdout after
    each training, validation and test iteration, at most every
    ``interval`` seconds and always at a loop's last iteration, on rank 0.
    Added by :func:`sapa_mm.engine.runner.build_runner` where
    :data:`REPORT_ENV` is set.

    Args:
        interval: minimum seconds between two report lines.
    """

    priority = 'VERY_LOW'

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.last = float('-inf')

    def _report(self, runner, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if runner.rank != 0 or (now - self.last < self.interval and
                                done < total):
            return
        self.last = now
        sys.stdout.write(REPORT_PREFIX + json.dumps(
            dict(phase=phase, done=done, total=total)) + '\n')
        sys.stdout.flush()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self._report(runner, 'train', runner.iter + 1, runner.max_iters)

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        self._report(runner, 'val', batch_idx + 1,
                     len(runner.val_dataloader))

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        self._report(runner, 'test', batch_idx + 1,
                     len(runner.test_dataloader))
