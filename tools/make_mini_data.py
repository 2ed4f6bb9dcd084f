"""Generate the mini datasets: small synthetic scenes in the real on-disk
formats (sapa_mm.datasets.MINI_DATASETS), deterministic in --seed.

    python tools/make_mini_data.py ROOT [--num-train 32] [--num-val 8]
        [--seed 0] [--only NAME [NAME ...]]

writes one folder per dataset under ROOT (e.g. ROOT/ADEChallengeData2016,
ROOT/coco) and prints each path; point a config's data_root there
(tools/train.py --data-root ...).
"""
import argparse

from sapa_mm.datasets import MINI_DATASETS


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('root')
    parser.add_argument('--num-train', type=int, default=32)
    parser.add_argument('--num-val', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--only', nargs='+', choices=list(MINI_DATASETS),
                        help='the datasets to write (default: all)')
    args = parser.parse_args()
    for name in args.only or MINI_DATASETS:
        print(MINI_DATASETS[name](args.root, num_train=args.num_train,
                                  num_val=args.num_val, seed=args.seed))


if __name__ == '__main__':
    main()
