"""FLOPs and parameters of sapa-mm (or any OpenMMLab) configs.

    python tools/analysis/get_flops.py CONFIG [--shape H W]
    python tools/analysis/get_flops.py BASELINE OTHER... --table [--shape H W]

One config prints its FLOPs and parameters; ``--table`` prints the configs
as one table of the SAPA README: the first (the baseline) absolute, the others
as deltas. FLOPs count multiply-accumulates, as the OpenMMLab tools do.
"""
import argparse
import os
import sys

from mmengine.config import Config, DictAction

from sapa_mm.complexity import format_table, model_complexity
from sapa_mm.console import quiet_upstream_warnings
from sapa_mm.progress import ProgressLine


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', help='config file(s)')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 512],
                        metavar=('H', 'W'), help='input image size')
    parser.add_argument('--table', action='store_true',
                        help='print the configs as one table, the first as '
                        'the baseline')
    parser.add_argument('--params-only', action='store_true',
                        help='count parameters only (fast)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in tools/train.py')
    args = parser.parse_args()
    if len(args.configs) > 1 and not args.table:
        parser.error('several configs need --table')
    return args


def main():
    args = parse_args()
    quiet_upstream_warnings()
    shape = tuple(args.shape)
    names, results = [], []
    for path in args.configs:
        config = Config.fromfile(path)
        if args.cfg_options:
            config.merge_from_dict(args.cfg_options)
        # On stderr: stdout stays the table.
        progress = ProgressLine(f'{os.path.basename(path)}: FLOPs trace',
                                stream=sys.stderr, unit='modules')
        result = model_complexity(config, shape,
                                  with_flops=not args.params_only,
                                  progress=progress.update)
        progress.close()
        names.append(os.path.splitext(os.path.basename(path))[0])
        results.append(result)
        if not args.table:
            flops = result['flops']
            print(f'config: {path}\ninput shape: (3, {shape[0]}, '
                  f'{shape[1]})')
            if flops is not None:
                print(f'FLOPs: {flops / 1e9:.2f} G')
            print(f'Params: {result["params"] / 1e6:.2f} M '
                  f'({result["params"]:,})')
    if args.table:
        print(f'input shape: (3, {shape[0]}, {shape[1]})')
        print(format_table(names, results))


if __name__ == '__main__':
    main()
