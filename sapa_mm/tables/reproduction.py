"""Reproduction of the paper's tables: train, test and measure every row.

Each row trains and tests once per seed, every row with the same fixed
seeds (mmengine's ``randomness.seed``), so the same command on the same
machine gives the same table; the metrics are reported as mean +- standard
deviation over the seeds, the per-seed values in ``results.json``.
Each step runs ``tools/train.py`` or ``tools/test.py`` in a subprocess (or
``tools/dist_launch.sh``, torchrun, with a launcher), so every step starts
from a clean process and a killed run loses at most the step in flight.
Progress is saved after every step in ``<work_dir>/state.json`` (written
atomically): a rerun skips what is done, resumes an interrupted training
from its last checkpoint, and writes ``results.md`` (the paper's format,
its numbers beside the measured ones) and ``results.json``. The tools'
output goes to a log file per step; their training, validation and test
iterations, and the FLOPs trace, show as progress lines in the terminal
(:mod:`sapa_mm.engine.progress`).
"""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import List, Optional, Sequence

from mmengine.config import Config

from ..analysis import format_cell, model_complexity
from ..engine.progress import REPORT_ENV, ProgressLine, parse_report
from . import get_table
from .table import ROOT

TOOLS = osp.join(ROOT, 'tools')
#: The seed of a run that names none.
DEFAULT_SEEDS = (1, )


def parse_seeds(text: str) -> List[int]:
    """``--seeds``: an integer N is the seeds 1..N, a comma-separated list
    ('3,7' or '5,') the seeds themselves."""
    try:
        if ',' in text:
            seeds = [int(s) for s in text.split(',') if s.strip()]
        else:
            seeds = list(range(1, int(text) + 1))
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f'seeds must be a count N >= 1 or a list of distinct '
                         f'seeds >= 0 such as "1,2,3", got {text!r}')
    return seeds


def _stamp() -> str:
    return f'[reproduce {time.strftime("%H:%M:%S")}] '


def _log(message: str) -> None:
    print(_stamp() + message, flush=True)


def mean_std(values: Sequence[float]) -> tuple:
    """Mean and sample standard deviation (0 for one value)."""
    if len(values) == 1:
        return values[0], 0.0
    return statistics.mean(values), statistics.stdev(values)


class Reproduction:
    """Runs one table; see the module docstring.

    Args:
        table: a name of :data:`sapa_mm.tables.TABLES`.
        work_dir: where rows, state and results go.
        rows: the rows to run (default: all, baseline first).
        seeds: the training seeds, the same for every row.
        data_root, cfg_options, launcher, nproc, mini: passed to the
            train/test tools (``mini``: a short schedule of that many
            iterations).
        with_flops: measure FLOPs (else Params only).
    """

    def __init__(self, table: str, work_dir: str,
                 rows: Optional[Sequence[str]] = None,
                 seeds: Sequence[int] = DEFAULT_SEEDS,
                 data_root: Optional[str] = None,
                 cfg_options: Sequence[str] = (),
                 launcher: str = 'none', nproc: int = 1,
                 mini: Optional[int] = None, with_flops: bool = True) -> None:
        self.spec = get_table(table)
        self.table = table
        self.rows = list(rows) if rows else list(self.spec.keys)
        for row in self.rows:
            self.spec.row(row)  # a ValueError for an unknown row
        if not seeds:
            raise ValueError('seeds must name at least one seed')
        self.seeds = list(seeds)
        self.work_dir = work_dir
        self.data_root = data_root
        self.cfg_options = list(cfg_options)
        if launcher not in ('none', 'pytorch'):
            raise ValueError('reproduce.py launches through torchrun: '
                             f"launcher must be 'none' or 'pytorch', got "
                             f'{launcher!r}')
        self.launcher = launcher
        self.nproc = nproc
        self.mini = mini
        self.with_flops = with_flops
        self.state_file = osp.join(work_dir, 'state.json')
        os.makedirs(work_dir, exist_ok=True)
        self.state = self._load_state()

    # -- state -------------------------------------------------------------
    def _load_state(self) -> dict:
        if osp.exists(self.state_file):
            with open(self.state_file) as f:
                return json.load(f)
        return dict(table=self.table, rows={})

    def _save_state(self) -> None:
        tmp = self.state_file + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.state, f, indent=2)
        os.replace(tmp, self.state_file)  # atomic: never a half-written file

    def _row_state(self, row: str) -> dict:
        return self.state['rows'].setdefault(row, {})

    def _seed_state(self, row: str, seed: int) -> dict:
        return self._row_state(row).setdefault('seeds', {}).setdefault(
            str(seed), {})

    # -- steps -------------------------------------------------------------
    def config(self, row: str) -> str:
        return self.spec.config_path(row)

    def seed_dir(self, row: str, seed: int) -> str:
        """Where the row's run with ``seed`` keeps its logs and
        checkpoints."""
        return osp.join(self.work_dir, row, f'seed-{seed}')

    def _tool_args(self, seed: int) -> List[str]:
        args = []
        if self.data_root:
            args += ['--data-root', self.data_root]
        if self.mini is not None:
            args += ['--mini', str(self.mini)]
        return args + ['--cfg-options', *self.cfg_options,
                       f'randomness.seed={seed}']

    def _run(self, tool: str, args: List[str], log_file: str,
             row: str) -> None:
        """Runs a tool with its output appended to ``log_file``, less the
        progress reports, which become progress lines here."""
        if self.launcher == 'none':
            cmd = [sys.executable, osp.join(TOOLS, f'{tool}.py'), *args]
        else:
            cmd = ['bash', osp.join(TOOLS, 'dist_launch.sh'), f'{tool}.py',
                   str(self.nproc), *args]
        env = dict(os.environ, PYTHON=sys.executable, **{REPORT_ENV: '1'})
        progress = None
        with open(log_file, 'a', buffering=1) as log, subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env, cwd=ROOT, text=True, errors='replace') as process:
            for line in process.stdout:
                report = parse_report(line)
                if report is None:
                    log.write(line)
                    continue
                label = f'{row}: {report["phase"]}'
                if progress is None or progress.label != label:
                    if progress is not None:
                        progress.close()
                    progress = ProgressLine(label, prefix=_stamp)
                progress.update(report['done'], report['total'])
        if progress is not None:
            progress.close()
        if process.returncode != 0:
            raise RuntimeError(f'{tool} failed (exit {process.returncode}); '
                               f'see {log_file}')

    def train(self, row: str, seed: int) -> str:
        state = self._seed_state(row, seed)
        name = f'{row} (seed {seed})'
        if state.get('checkpoint') and osp.exists(state['checkpoint']):
            _log(f'{name}: trained, checkpoint {state["checkpoint"]}')
            return state['checkpoint']
        run_dir = self.seed_dir(row, seed)
        last = osp.join(run_dir, 'last_checkpoint')
        args = [self.config(row), '--work-dir', run_dir,
                *self._tool_args(seed)]
        if osp.exists(last):
            _log(f'{name}: resuming the interrupted training')
            args.append('--resume')
        else:
            _log(f'{name}: training')
        os.makedirs(run_dir, exist_ok=True)
        self._run('train', args, osp.join(run_dir, 'train.log'), name)
        with open(last) as f:
            state['checkpoint'] = f.read().strip()
        self._save_state()
        return state['checkpoint']

    def test(self, row: str, seed: int, checkpoint: str) -> dict:
        state = self._seed_state(row, seed)
        if 'metrics' in state:
            return state['metrics']
        name = f'{row} (seed {seed})'
        _log(f'{name}: testing {checkpoint}')
        test_dir = osp.join(self.seed_dir(row, seed), 'test')
        os.makedirs(test_dir, exist_ok=True)
        out = osp.join(test_dir, 'metrics.json')
        self._run('test', [self.config(row), checkpoint, '--work-dir',
                           test_dir, '--out-metrics', out,
                           *self._tool_args(seed)],
                  osp.join(test_dir, 'test.log'), name)
        with open(out) as f:
            state['metrics'] = json.load(f)
        self._save_state()
        return state['metrics']

    def complexity(self, row: str) -> dict:
        state = self._row_state(row)
        key = 'complexity' if self.with_flops else 'params_only'
        if key not in state:
            _log(f'{row}: counting {"FLOPs and " if self.with_flops else ""}'
                 'parameters')
            progress = ProgressLine(f'{row}: FLOPs trace', prefix=_stamp,
                                    unit='modules')
            state[key] = model_complexity(
                Config.fromfile(self.config(row)), self.spec.flops_shape,
                with_flops=self.with_flops, progress=progress.update)
            progress.close()
            self._save_state()
        return state[key]

    def run(self) -> str:
        seeds = ', '.join(map(str, self.seeds))
        _log(f'{self.table}: rows {", ".join(self.rows)}; seeds {seeds}')
        for i, row in enumerate(self.rows, 1):
            _log(f'row {i}/{len(self.rows)}: {row}')
            for seed in self.seeds:
                checkpoint = self.train(row, seed)
                self.test(row, seed, checkpoint)
            self.complexity(row)
            self.write_results()
        return self.write_results()

    # -- results -----------------------------------------------------------
    def _measured(self, row: str) -> dict:
        """Per metric the values of the seeds that have been tested, in the
        paper's unit, and the row's FLOPs and Params."""
        state = self.state['rows'].get(row, {})
        runs = state.get('seeds', {})
        per_seed = {}
        for seed in self.seeds:
            metrics = runs.get(str(seed), {}).get('metrics')
            if metrics is not None:
                per_seed[seed] = [
                    metrics[m.key] * m.scale if m.key in metrics else None
                    for m in self.spec.metrics]
        size = state.get('complexity') or state.get('params_only') or {}
        return dict(per_seed=per_seed, flops=size.get('flops'),
                    params=size.get('params'))

    @staticmethod
    def _summary(values: List[Optional[float]]) -> Optional[dict]:
        values = [v for v in values if v is not None]
        if not values:
            return None
        mean, std = mean_std(values)
        return dict(mean=mean, std=std, n=len(values))

    def write_results(self) -> str:
        """Writes results.md and results.json from the state; returns the
        markdown."""
        names = [m.name for m in self.spec.metrics]
        header = ['row'] + [f'{n} paper | {n}' for n in names] + [
            'FLOPs (G) paper | FLOPs (G)', 'Params (M) paper | Params (M)']
        lines = ['| ' + ' | '.join(header) + ' |',
                 '|' + ' --- |' * (1 + 2 * len(names) + 4)]
        rows = [r for r in self.spec.keys if r in self.rows]
        base = self._measured(rows[0])
        records = []
        for i, key in enumerate(rows):
            row = self.spec.row(key)
            measured = self._measured(key)
            summaries = [
                self._summary([v[j] for v in measured['per_seed'].values()])
                for j in range(len(names))]
            cells = [row.label]
            paper = row.paper or (None, ) * len(names)
            for metric, value, summary in zip(self.spec.metrics, paper,
                                              summaries):
                digits = metric.digits
                cells.append('-' if value is None else f'{value:.{digits}f}')
                if summary is None:
                    cells.append('-')
                elif len(self.seeds) == 1:
                    cells.append(f'{summary["mean"]:.{digits}f}')
                else:
                    cells.append(f'{summary["mean"]:.{digits}f} ± '
                                 f'{summary["std"]:.{digits}f}')
            cells += [row.paper_flops or '-',
                      format_cell(measured['flops'], base['flops'], 1e9, 2,
                                  i == 0),
                      row.paper_params or '-',
                      format_cell(measured['params'], base['params'], 1e6, 2,
                                  i == 0)]
            lines.append('| ' + ' | '.join(cells) + ' |')
            records.append(dict(
                row=key, label=row.label, config=self.config(key),
                upsampler=row.upsampler,
                paper=dict(metrics=dict(zip(names, paper)),
                           flops=row.paper_flops, params=row.paper_params),
                measured=dict(
                    metrics=dict(zip(names, summaries)),
                    per_seed={str(seed): dict(zip(names, values))
                              for seed, values in
                              measured['per_seed'].items()},
                    flops=measured['flops'], params=measured['params'])))
        seeds = ', '.join(map(str, self.seeds))
        markdown = '\n'.join(lines) + '\n'
        if len(self.seeds) > 1:
            markdown += (f'\nMetrics: mean ± standard deviation over seeds '
                         f'{seeds}.\n')
        else:
            markdown += f'\nSeed {seeds}.\n'
        if self.mini is not None:
            markdown += (f'\nMeasured with a {self.mini}-iteration CPU '
                         'schedule: this checks the pipeline and is no '
                         'evidence about the paper\'s numbers.\n')
        with open(osp.join(self.work_dir, 'results.md'), 'w') as f:
            f.write(markdown)
        with open(osp.join(self.work_dir, 'results.json'), 'w') as f:
            json.dump(dict(table=self.table, mini=self.mini,
                           seeds=self.seeds, rows=records), f, indent=2)
        return markdown
