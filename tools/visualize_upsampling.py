"""Compare segmentation models on the same images: the image, its labels,
and per model the prediction and the upsampled 1/4-resolution decoder
feature (its 3 principal components as RGB), like the paper's
``upsampled_feat.png``.

    python tools/visualize_upsampling.py OUT.png --data-root DIR \
        --model NAME CONFIG CHECKPOINT [--model ...] [--num-images 2]
"""
import argparse
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DATASETS
from mmengine.runner import load_checkpoint

from sapa_mm.analysis.complexity import build_model
from sapa_mm.engine.runner import load_config
from sapa_mm.engine.upstream_warnings import quiet_upstream_warnings


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out', help='output PNG')
    parser.add_argument('--model', nargs=3, action='append', required=True,
                        metavar=('NAME', 'CONFIG', 'CHECKPOINT'))
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--num-images', type=int, default=2)
    parser.add_argument('--mini', type=int, default=1,
                        help='apply the mini schedule settings (crop and '
                        'test scale) the checkpoints were trained with')
    return parser.parse_args()


def pca_rgb(feature: torch.Tensor) -> np.ndarray:
    """(C, H, W) -> (H, W, 3): the 3 main components, scaled to [0, 1]."""
    C, H, W = feature.shape
    x = feature.reshape(C, -1).T.float()
    x = x - x.mean(0)
    _, _, v = torch.pca_lowrank(x, q=3, center=False)
    rgb = (x @ v[:, :3]).reshape(H, W, 3)
    lo, hi = rgb.amin((0, 1)), rgb.amax((0, 1))
    return ((rgb - lo) / (hi - lo).clamp_min(1e-6)).numpy()


def colorize(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    out = np.zeros(labels.shape + (3, ), np.uint8)
    valid = labels < len(palette)
    out[valid] = palette[labels[valid]]
    return out


def main():
    args = parse_args()
    quiet_upstream_warnings()
    mini = dict(max_iters=args.mini, val_interval=args.mini)
    columns, samples = [], None
    for name, config, checkpoint in args.model:
        cfg = load_config(config, data_root=args.data_root, mini=mini)
        model = build_model(cfg)
        load_checkpoint(model, checkpoint, map_location='cpu')
        if samples is None:
            dataset_cfg = cfg.test_dataloader.dataset
            dataset = DATASETS.build(dataset_cfg)
            palette = np.array(dataset.metainfo['palette'], np.uint8)
            pipeline = Compose(dataset_cfg.pipeline)
            samples = [pipeline(dataset.get_data_info(i))
                       for i in range(args.num_images)]
        features = []
        hook = model.decode_head.fusion_conv.register_forward_hook(
            lambda m, i, out: features.append(out[0].detach()))
        with torch.no_grad():
            results = [model.test_step(pseudo_collate([s]))[0]
                       for s in samples]
        hook.remove()
        columns.append((name, results, features))

    n_cols = 2 + 2 * len(columns)
    fig, axes = plt.subplots(len(samples), n_cols,
                             figsize=(2.2 * n_cols, 2.2 * len(samples)),
                             squeeze=False)
    for r, sample in enumerate(samples):
        image = sample['inputs'].permute(1, 2, 0).numpy()[..., ::-1]
        gt = sample['data_samples'].gt_sem_seg.data[0].numpy()
        panels = [('image', image), ('labels', colorize(gt, palette))]
        for name, results, features in columns:
            pred = results[r].pred_sem_seg.data[0].numpy()
            panels += [(f'{name}: prediction', colorize(pred, palette)),
                       (f'{name}: 1/4 feature', pca_rgb(features[r]))]
        for ax, (title, panel) in zip(axes[r], panels):
            ax.imshow(panel)
            ax.set_title(title, fontsize=7)
            ax.axis('off')
    fig.suptitle('Mini ADE20K-format data, short CPU schedule: a pipeline '
                 'check, no evidence about ADE20K', fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f'wrote {osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
