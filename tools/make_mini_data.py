"""Generate the mini datasets: ADE20K and COCO on-disk formats, synthetic
scenes, deterministic in --seed.

    python tools/make_mini_data.py ROOT [--num-train 32] [--num-val 8]
        [--seed 0] [--only ade20k|coco]

writes ROOT/ADEChallengeData2016 and ROOT/coco; point a config's data_root
there (tools/train.py --data-root ...).
"""
import argparse

from sapa_mm.datasets import make_ade20k, make_coco


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('root')
    parser.add_argument('--num-train', type=int, default=32)
    parser.add_argument('--num-val', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--only', choices=['ade20k', 'coco'])
    args = parser.parse_args()
    kwargs = dict(num_train=args.num_train, num_val=args.num_val,
                  seed=args.seed)
    if args.only in (None, 'ade20k'):
        print(make_ade20k(args.root, **kwargs))
    if args.only in (None, 'coco'):
        print(make_coco(args.root, **kwargs))


if __name__ == '__main__':
    main()
