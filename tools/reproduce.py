"""Reproduce one of the authors' tables: train, test and measure each row.

    python tools/reproduce.py TABLE [--work-dir DIR] [--rows a b ...]
        [--data-root DIR] [--launcher pytorch --nproc N] [--mini ITERS]
        [--cfg-options KEY=VALUE ...]

TABLE: segformer-ade20k, maskformer-ade20k, mask2former-ade20k,
faster-rcnn-coco. Resumable: rerun the same command after an interruption.
Writes DIR/results.md (the authors' format, paper beside measured) and
DIR/results.json.
"""
import argparse

from sapa_mm.console import quiet_upstream_warnings
from sapa_mm.reproduce import TABLES, Reproduction


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('table', choices=sorted(TABLES))
    parser.add_argument('--work-dir', help='default: work_dirs/reproduce/'
                        'TABLE')
    parser.add_argument('--rows', nargs='+', help='rows to run (default: '
                        'all); the first is the baseline of the deltas')
    parser.add_argument('--data-root', help="the datasets' data_root")
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch'])
    parser.add_argument('--nproc', type=int, default=1,
                        help='processes per machine with --launcher pytorch')
    parser.add_argument('--mini', type=int, metavar='ITERS',
                        help='short CPU schedules for the mini datasets')
    parser.add_argument('--params-only', action='store_true',
                        help='skip the FLOPs trace')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='passed to tools/train.py and tools/test.py')
    return parser.parse_args()


def main():
    args = parse_args()
    quiet_upstream_warnings()
    reproduction = Reproduction(
        args.table, args.work_dir or f'work_dirs/reproduce/{args.table}',
        rows=args.rows, data_root=args.data_root,
        cfg_options=args.cfg_options, launcher=args.launcher,
        nproc=args.nproc, mini=args.mini,
        with_flops=not args.params_only)
    print(reproduction.run())


if __name__ == '__main__':
    main()
