"""Reproduction of the authors' tables: train, test and measure every row.

Each row runs ``tools/train.py`` and ``tools/test.py`` in a subprocess (or
``tools/dist_launch.sh``, torchrun, with a launcher), so every row
starts from a clean process and a killed run loses at most the row step in
flight. Progress is saved after every step in ``<work_dir>/state.json``
(written atomically): a rerun skips what is done, resumes an interrupted
training from its last checkpoint, and writes ``results.md`` (the authors'
format, paper numbers beside the measured ones) and ``results.json``.
The tools' output goes to a log file per step; their training, validation
and test iterations, and the FLOPs trace, show as progress lines in the
terminal (:mod:`sapa_mm.progress`).
"""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from .complexity import format_cell, model_complexity
from .progress import REPORT_ENV, ProgressLine, parse_report

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')

SEG_METRICS = [('mIoU', 'mIoU', 1.0)]
DET_METRICS = [('AP', 'coco/bbox_mAP', 100.0),
               ('AP50', 'coco/bbox_mAP_50', 100.0),
               ('AP75', 'coco/bbox_mAP_75', 100.0),
               ('APs', 'coco/bbox_mAP_s', 100.0),
               ('APm', 'coco/bbox_mAP_m', 100.0),
               ('APl', 'coco/bbox_mAP_l', 100.0)]

# The authors' numbers (../shared/seed/SAPA-README.md): per row, the metric
# columns, then FLOPs and Params as printed (absolute for the baseline).
TABLES: Dict[str, dict] = {
    'segformer-ade20k': dict(
        config='configs/segformer/segformer_mit-b1-{}_8xb2-160k_ade20k-'
        '512x512.py', shape=(512, 512), metrics=SEG_METRICS, rows={
            'bilinear': ('Bilinear', [41.68], '15.91', '13.74'),
            'carafe': ('CARAFE', [42.82], '+1.45', '+0.44'),
            'indexnet': ('IndexNet', [41.50], '+30.65', '+12.60'),
            'a2u': ('A2U', [41.45], '+0.41', '+0.06'),
            'sapa-i': ('SAPA-I', [43.05], '+0.75', '+0.00'),
            'sapa-b': ('SAPA-B', [43.20], '+1.02', '+0.1'),
            'sapa-g': ('SAPA-G', [44.39], '+1.02', '+0.1')}),
    'maskformer-ade20k': dict(
        config='configs/maskformer/maskformer_swin-b-in22k-{}_8xb2-160k_'
        'ade20k-640x640.py', shape=(640, 640), metrics=SEG_METRICS, rows={
            'nearest': ('Nearest', [52.70], '195', '102'),
            'carafe': ('CARAFE', [53.53], '+0.84', '+0.22'),
            'indexnet': ('IndexNet', [52.92], '+17.64', '+6.30'),
            'a2u': ('A2U', [52.73], '+0.23', '+0.03'),
            'sapa-i': ('SAPA-I', [53.25], '+0.43', '+0.00'),
            'sapa-b': ('SAPA-B', [53.15], '+0.59', '+0.05'),
            'sapa-g': ('SAPA-G', [53.78], '+0.59', '+0.05')}),
    'mask2former-ade20k': dict(
        config='configs/mask2former/mask2former_swin-b-in22k-{}_8xb2-160k_'
        'ade20k-640x640.py', shape=(640, 640), metrics=SEG_METRICS, rows={
            'bilinear': ('Bilinear', [53.90], '223', '107'),
            'carafe': ('CARAFE', [53.94], '+0.63', '+0.07'),
            'indexnet': ('IndexNet', [54.71], '+13.44', '+2.10'),
            'a2u': ('A2U', [54.40], '+0.18', '+0.01'),
            'sapa-i': ('SAPA-I', [55.05], '+0.33', '+0.00'),
            'sapa-b': ('SAPA-B', [54.98], '+0.45', '+0.02'),
            'sapa-g': ('SAPA-G', [55.22], '+0.45', '+0.02')}),
    'faster-rcnn-coco': dict(
        config='configs/faster_rcnn/faster-rcnn_r50_guided-fpn-{}_1x_coco.py',
        shape=(800, 1333), metrics=DET_METRICS, rows={
            'nearest': ('Nearest', [37.4, 58.1, 40.4, 21.2, 41.0, 48.1],
                        None, '41.53'),
            'carafe': ('CARAFE', [38.6, 59.9, 42.2, 23.3, 42.2, 49.7], None,
                       '+0.22'),
            'indexnet': ('IndexNet', [37.6, 58.4, 40.9, 21.5, 41.3, 49.2],
                         None, '+6.30'),
            'a2u': ('A2U', [37.3, 58.7, 40.0, 21.7, 41.1, 48.5], None,
                    '+0.03'),
            'sapa-i': ('SAPA-I', [37.7, 59.2, 40.6, 22.2, 41.2, 48.4], None,
                       '+0'),
            'sapa-b': ('SAPA-B', [37.8, 59.2, 40.6, 22.4, 41.4, 49.1], None,
                       '+0.05'),
            'sapa-g': ('SAPA-G', [37.8, 59.1, 40.8, 21.5, 41.4, 48.6], None,
                       '+0.05')}),
}


def _stamp() -> str:
    return f'[reproduce {time.strftime("%H:%M:%S")}] '


def _log(message: str) -> None:
    print(_stamp() + message, flush=True)


class Reproduction:
    """Runs one table; see the module docstring.

    Args:
        table: a key of :data:`TABLES`.
        work_dir: where rows, state and results go.
        rows: the rows to run (default: all, baseline first).
        data_root, cfg_options, launcher, nproc, mini: passed to the
            train/test tools (``mini``: a short schedule of that many
            iterations).
        with_flops: measure FLOPs (else Params only).
    """

    def __init__(self, table: str, work_dir: str,
                 rows: Optional[Sequence[str]] = None,
                 data_root: Optional[str] = None,
                 cfg_options: Sequence[str] = (),
                 launcher: str = 'none', nproc: int = 1,
                 mini: Optional[int] = None, with_flops: bool = True) -> None:
        if table not in TABLES:
            raise ValueError(f'unknown table {table!r}; choose one of '
                             f'{sorted(TABLES)}')
        self.spec = TABLES[table]
        self.table = table
        all_rows = list(self.spec['rows'])
        self.rows = list(rows) if rows else all_rows
        unknown = set(self.rows) - set(all_rows)
        if unknown:
            raise ValueError(f'unknown rows {sorted(unknown)} of {table}; '
                             f'rows are {all_rows}')
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

    # -- steps -------------------------------------------------------------
    def config(self, row: str) -> str:
        return osp.join(ROOT, self.spec['config'].format(row))

    def _tool_args(self) -> List[str]:
        args = []
        if self.data_root:
            args += ['--data-root', self.data_root]
        if self.mini is not None:
            args += ['--mini', str(self.mini)]
        if self.cfg_options:
            args += ['--cfg-options', *self.cfg_options]
        return args

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

    def train(self, row: str) -> str:
        state = self._row_state(row)
        if state.get('checkpoint') and osp.exists(state['checkpoint']):
            _log(f'{row}: trained, checkpoint {state["checkpoint"]}')
            return state['checkpoint']
        row_dir = osp.join(self.work_dir, row)
        last = osp.join(row_dir, 'last_checkpoint')
        args = [self.config(row), '--work-dir', row_dir, *self._tool_args()]
        if osp.exists(last):
            _log(f'{row}: resuming the interrupted training')
            args.append('--resume')
        else:
            _log(f'{row}: training')
        os.makedirs(row_dir, exist_ok=True)
        self._run('train', args, osp.join(row_dir, 'train.log'), row)
        with open(last) as f:
            state['checkpoint'] = f.read().strip()
        self._save_state()
        return state['checkpoint']

    def test(self, row: str, checkpoint: str) -> dict:
        state = self._row_state(row)
        if 'metrics' in state:
            return state['metrics']
        _log(f'{row}: testing {checkpoint}')
        test_dir = osp.join(self.work_dir, row, 'test')
        os.makedirs(test_dir, exist_ok=True)
        out = osp.join(test_dir, 'metrics.json')
        self._run('test', [self.config(row), checkpoint, '--work-dir',
                           test_dir, '--out-metrics', out, *self._tool_args()],
                  osp.join(test_dir, 'test.log'), row)
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
                Config.fromfile(self.config(row)), tuple(self.spec['shape']),
                with_flops=self.with_flops, progress=progress.update)
            progress.close()
            self._save_state()
        return state[key]

    def run(self) -> str:
        for i, row in enumerate(self.rows, 1):
            _log(f'row {i}/{len(self.rows)}: {row}')
            checkpoint = self.train(row)
            self.test(row, checkpoint)
            self.complexity(row)
            self.write_results()
        return self.write_results()

    # -- results -----------------------------------------------------------
    def _measured(self, row: str) -> dict:
        state = self.state['rows'].get(row, {})
        metrics = state.get('metrics')
        values = [None if metrics is None or key not in metrics else
                  metrics[key] * scale
                  for _, key, scale in self.spec['metrics']]
        size = state.get('complexity') or state.get('params_only') or {}
        return dict(metrics=values, flops=size.get('flops'),
                    params=size.get('params'))

    def write_results(self) -> str:
        """Writes results.md and results.json from the state; returns the
        markdown."""
        names = [name for name, _, _ in self.spec['metrics']]
        header = ['row'] + [f'{n} paper | {n}' for n in names] + [
            'FLOPs (G) paper | FLOPs (G)', 'Params (M) paper | Params (M)']
        lines = ['| ' + ' | '.join(header) + ' |',
                 '|' + ' --- |' * (1 + 2 * len(names) + 4)]
        rows = [r for r in self.spec['rows'] if r in self.rows]
        base = self._measured(rows[0])
        records = []

        for i, row in enumerate(rows):
            label, paper_metrics, paper_flops, paper_params = \
                self.spec['rows'][row]
            measured = self._measured(row)
            cells = [label]
            for paper, value in zip(paper_metrics, measured['metrics']):
                cells += [f'{paper:.2f}',
                          '-' if value is None else f'{value:.2f}']
            cells += [paper_flops or '-',
                      format_cell(measured['flops'], base['flops'], 1e9, 2,
                                  i == 0),
                      paper_params,
                      format_cell(measured['params'], base['params'], 1e6, 2,
                                  i == 0)]
            lines.append('| ' + ' | '.join(cells) + ' |')
            records.append(dict(row=row, label=label, config=self.config(row),
                                paper=dict(metrics=dict(zip(
                                    names, paper_metrics)),
                                           flops=paper_flops,
                                           params=paper_params),
                                measured=dict(metrics=dict(zip(
                                    names, measured['metrics'])),
                                              flops=measured['flops'],
                                              params=measured['params'])))
        markdown = '\n'.join(lines) + '\n'
        if self.mini is not None:
            markdown += (f'\nMeasured with a {self.mini}-iteration CPU '
                         'schedule: this checks the pipeline and is no '
                         'evidence about the paper\'s numbers.\n')
        with open(osp.join(self.work_dir, 'results.md'), 'w') as f:
            f.write(markdown)
        with open(osp.join(self.work_dir, 'results.json'), 'w') as f:
            json.dump(dict(table=self.table, mini=self.mini, rows=records), f,
                      indent=2)
        return markdown
