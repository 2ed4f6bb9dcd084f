"""Test a checkpoint of an mmseg or mmdet config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
        [--out-metrics JSON] [--data-root DIR] [--mini ITERS]
        [--cfg-options KEY=VALUE ...] [--launcher pytorch]
"""
import argparse
import json

from sapa_mm.engine.runner import add_runner_arguments, run, runner_arguments
from sapa_mm.engine.upstream_warnings import quiet_upstream_warnings


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
    quiet_upstream_warnings()

    def test(runner):
        metrics = runner.test()
        if args.out_metrics and runner.rank == 0:
            with open(args.out_metrics, 'w') as f:
                json.dump({k: float(v) for k, v in metrics.items()}, f,
                          indent=2)

    run(args.config, test, load_from=args.checkpoint,
        **runner_arguments(args))


if __name__ == '__main__':
    main()
