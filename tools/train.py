"""Train an mmseg or mmdet config of sapa-mm (or any OpenMMLab 2.x config).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--data-root DIR] [--mini ITERS] [--cfg-options KEY=VALUE ...]
        [--launcher pytorch]

The default scope (mmseg / mmdet) comes from the config, and its
``custom_imports`` are imported. Distributed runs go through
``tools/dist_train.sh`` (torchrun); without GPUs they use the gloo backend.
"""
import argparse

from sapa_mm.engine.runner import add_runner_arguments, run, runner_arguments
from sapa_mm.engine.upstream_warnings import quiet_upstream_warnings


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None,
        help='resume from CKPT, or from the latest checkpoint of the work '
        'dir when no CKPT is given')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a GPU)')
    add_runner_arguments(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    quiet_upstream_warnings()
    run(args.config, lambda runner: runner.train(), amp=args.amp,
        resume=args.resume, **runner_arguments(args))


if __name__ == '__main__':
    main()
