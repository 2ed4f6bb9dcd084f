"""FLOPs and parameters of sapa-mm (or any OpenMMLab) configs.

    python tools/analysis/get_flops.py CONFIG [--shape H W]
    python tools/analysis/get_flops.py BASELINE OTHER... --table [--shape H W]
    python tools/analysis/get_flops.py --table TABLE [--rows a b ...]

One config prints its FLOPs and parameters; ``--table`` prints the configs
as one table of the paper: the first (the baseline) absolute, the others
as deltas. ``--table TABLE`` does so for the rows of one of the paper's
tables (sapa_mm.tables), at its FLOPs shape, beside the paper's numbers.
FLOPs count multiply-accumulates, as the OpenMMLab tools do.
"""
import argparse
import os
import sys

from mmengine.config import Config, DictAction

from sapa_mm.analysis.complexity import (
    format_cell,
    format_table,
    model_complexity,
)
from sapa_mm.engine.progress import ProgressLine
from sapa_mm.engine.upstream_warnings import quiet_upstream_warnings
from sapa_mm.tables import TABLES


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', help='config file(s)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input image size (default: 512 512, or the '
                        "table's)")
    parser.add_argument(
        '--table', nargs='?', const=True, default=None, metavar='TABLE',
        choices=[True, *TABLES],
        help='print the configs as one table, the first as the baseline; '
        'with a TABLE name, that table of the paper')
    parser.add_argument('--rows', nargs='+', help='with --table TABLE: the '
                        'rows (default: all)')
    parser.add_argument('--params-only', action='store_true',
                        help='count parameters only (fast)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in tools/train.py')
    args = parser.parse_args()
    if isinstance(args.table, str):
        if args.configs:
            parser.error('--table TABLE takes its configs from the table')
    elif not args.configs:
        parser.error('give a config, or --table TABLE')
    elif len(args.configs) > 1 and not args.table:
        parser.error('several configs need --table')
    if args.rows and not isinstance(args.table, str):
        parser.error('--rows needs --table TABLE')
    return args


def measure(path, shape, args):
    config = Config.fromfile(path)
    if args.cfg_options:
        config.merge_from_dict(args.cfg_options)
    # On stderr: stdout stays the table.
    progress = ProgressLine(f'{os.path.basename(path)}: FLOPs trace',
                            stream=sys.stderr, unit='modules')
    result = model_complexity(config, shape, with_flops=not args.params_only,
                              progress=progress.update)
    progress.close()
    return result


def input_shape(results, shape) -> str:
    """The traced input, (C, H, W), C the models' input channels."""
    return f'input shape: ({results[0]["input_channels"]}, {shape[0]}, ' \
        f'{shape[1]})'


def paper_table(table, rows, results) -> str:
    """The table's rows, measured, beside the paper's FLOPs and Params."""
    lines = ['| row | FLOPs (G) paper | FLOPs (G) | Params (M) paper | '
             'Params (M) |', '| --- | --- | --- | --- | --- |']
    base = results[0]
    for i, (key, result) in enumerate(zip(rows, results)):
        row = table.row(key)
        flops = format_cell(result['flops'], base['flops'], 1e9, 2, i == 0)
        params = format_cell(result['params'], base['params'], 1e6, 2,
                             i == 0)
        lines.append(f'| {row.label} | {row.paper_flops or "-"} | {flops} | '
                     f'{row.paper_params or "-"} | {params} |')
    return '\n'.join(lines)


def main():
    args = parse_args()
    quiet_upstream_warnings()
    if isinstance(args.table, str):
        table = TABLES[args.table]
        rows = args.rows or list(table.keys)
        for key in rows:
            table.row(key)
        shape = tuple(args.shape or table.flops_shape)
        results = [measure(table.config_path(key), shape, args)
                   for key in rows]
        print(f'{table.title}\n{input_shape(results, shape)}')
        print(paper_table(table, rows, results))
        return
    shape = tuple(args.shape or (512, 512))
    results = [measure(path, shape, args) for path in args.configs]
    if args.table:
        names = [os.path.splitext(os.path.basename(p))[0]
                 for p in args.configs]
        print(input_shape(results, shape))
        print(format_table(names, results))
        return
    (path, ), (result, ) = args.configs, results
    print(f'config: {path}\n{input_shape(results, shape)}')
    if result['flops'] is not None:
        print(f'FLOPs: {result["flops"] / 1e9:.2f} G')
    print(f'Params: {result["params"] / 1e6:.2f} M ({result["params"]:,})')


if __name__ == '__main__':
    main()
