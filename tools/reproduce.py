"""Reproduce one of the paper's tables: train, test and measure each row.

    python tools/reproduce.py TABLE [--work-dir DIR] [--rows a b ...]
        [--seeds N|S1,S2,...] [--data-root DIR] [--launcher pytorch --nproc N]
        [--mini ITERS] [--params-only] [--cfg-options KEY=VALUE ...]

TABLE: a table of sapa_mm.tables (segformer-ade20k, maskformer-ade20k,
mask2former-ade20k, bts-nyu, faster-rcnn-coco). Every row trains with the same
fixed seeds (default: seed 1); --seeds 3 runs seeds 1, 2, 3 and reports
mean +- std.
Resumable: rerun the same command after an interruption. Writes
DIR/results.md (the paper's format, its numbers beside the measured ones)
and DIR/results.json (with the per-seed values).
"""
import argparse

from sapa_mm.engine.upstream_warnings import quiet_upstream_warnings
from sapa_mm.tables import TABLES
from sapa_mm.tables.reproduction import (
    DEFAULT_SEEDS,
    Reproduction,
    parse_seeds,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('table', choices=list(TABLES))
    parser.add_argument('--work-dir', help='default: work_dirs/reproduce/'
                        'TABLE')
    parser.add_argument('--rows', nargs='+', help='rows to run (default: '
                        'all); the first is the baseline of the deltas')
    parser.add_argument(
        '--seeds', default=','.join(map(str, DEFAULT_SEEDS)),
        help='N: seeds 1..N; or a comma-separated list, e.g. 3,7 (a single '
        'seed: 5,). Default: %(default)s')
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
    args = parser.parse_args()
    try:
        args.seeds = parse_seeds(args.seeds)
    except ValueError as error:
        parser.error(f'--seeds: {error}')
    return args


def main():
    args = parse_args()
    quiet_upstream_warnings()
    reproduction = Reproduction(
        args.table, args.work_dir or f'work_dirs/reproduce/{args.table}',
        rows=args.rows, seeds=args.seeds, data_root=args.data_root,
        cfg_options=args.cfg_options, launcher=args.launcher,
        nproc=args.nproc, mini=args.mini,
        with_flops=not args.params_only)
    print(reproduction.run())


if __name__ == '__main__':
    main()
