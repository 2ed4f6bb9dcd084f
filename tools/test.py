"""Test a checkpoint of an mmseg or mmdet config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
        [--out-metrics JSON] [--data-root DIR] [--mini ITERS]
        [--cfg-options KEY=VALUE ...] [--launcher pytorch]
"""
import argparse
import json

from sapa_mm.engine import (add_runner_arguments, build_runner,
                            runner_arguments, shut_down)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-metrics', metavar='JSON',
                        help='also write the metrics to this JSON file')
    add_runner_arguments(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    runner = build_runner(args.config, load_from=args.checkpoint,
                          **runner_arguments(args))
    metrics = runner.test()
    if args.out_metrics and runner.rank == 0:
        with open(args.out_metrics, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)
    shut_down()


if __name__ == '__main__':
    main()
