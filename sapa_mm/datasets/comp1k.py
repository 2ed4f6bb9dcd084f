"""A mini Composition-1K: synthetic foregrounds with soft, thin and hairy
alpha edges over textured backgrounds, in the layout and JSON lists of
mmagic's Composition-1K preprocessing, read by
:class:`~sapa_mm.datasets.comp1k_dataset.Comp1kDataset` unchanged."""
import json
import os
import os.path as osp
from typing import Tuple

import cv2
import numpy as np

from .scenes import ADE20K_CLASSES, jittered_size, render_scene

#: Folders of the real layout, under the data root.
TRAIN_FG = 'Training_set/Adobe-licensed images'
TEST_FG = 'Test_set/Adobe-licensed images'


def _alpha(rng: np.random.RandomState, size: Tuple[int, int]) -> np.ndarray:
    """A matte in [0, 1]: a blob with a blurred (soft) edge, thin lines of
    partial alpha, and hair-like strands from the blob's edge."""
    h, w = size
    alpha = np.zeros((h, w), np.float32)
    centre = (int(rng.randint(w // 3, 2 * w // 3)),
              int(rng.randint(h // 3, 2 * h // 3)))
    axes = (int(rng.randint(w // 8, w // 4)), int(rng.randint(h // 8,
                                                              h // 4)))
    cv2.ellipse(alpha, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0,
                -1)
    sigma = float(rng.uniform(1, 4))
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)  # soft edge
    strands = np.zeros_like(alpha)
    for _ in range(int(rng.randint(10, 30))):  # hair
        angle = rng.uniform(0, 2 * np.pi)
        x = centre[0] + axes[0] * np.cos(angle)
        y = centre[1] + axes[1] * np.sin(angle)
        points = [(x, y)]
        length = rng.uniform(0.1, 0.3) * min(h, w)
        for step in range(8):
            angle += rng.uniform(-0.4, 0.4)
            x += length / 8 * np.cos(angle)
            y += length / 8 * np.sin(angle)
            points.append((x, y))
        cv2.polylines(strands, [np.array(points, np.int32)], False,
                      float(rng.uniform(0.4, 1.0)), 1)
    for _ in range(int(rng.randint(1, 4))):  # thin lines
        p1 = (int(rng.randint(0, w)), int(rng.randint(0, h)))
        p2 = (int(rng.randint(0, w)), int(rng.randint(0, h)))
        cv2.line(strands, p1, p2, float(rng.uniform(0.3, 0.8)), 1)
    return np.clip(np.maximum(alpha, strands), 0, 1)


def _foreground(rng: np.random.RandomState,
                size: Tuple[int, int]) -> np.ndarray:
    """A colourful textured foreground (RGB uint8)."""
    image, _, _ = render_scene(rng, size, ADE20K_CLASSES, 2)
    return image


def _trimap(alpha: np.ndarray, width: int = 5) -> np.ndarray:
    """The test trimap: alpha == 1 and alpha == 0 eroded by ``width``."""
    kernel = np.ones((width, width), np.uint8)
    trimap = np.full(alpha.shape, 128, np.uint8)
    trimap[cv2.erode((alpha >= 1).astype(np.uint8), kernel) > 0] = 255
    trimap[cv2.erode((alpha <= 0).astype(np.uint8), kernel) > 0] = 0
    return trimap


def _write(root: str, rel: str, image: np.ndarray) -> str:
    path = osp.join(root, rel)
    os.makedirs(osp.dirname(path), exist_ok=True)
    if image.ndim == 3:
        image = image[..., ::-1]  # RGB -> OpenCV's BGR
    cv2.imwrite(path, image)
    return rel


def make_comp1k(root: str, num_train: int = 32, num_val: int = 8,
                size: Tuple[int, int] = (160, 192), seed: int = 0) -> str:
    """Writes ``root/adobe_composition-1k`` (Training_set/, Test_set/,
    training_list.json, test_list.json) and returns its path.

    Each training entry has alpha_path, fg_path, bg_path and merged_path;
    each test entry also trimap_path. Alphas and trimaps are PNGs (exact
    values), as are backgrounds and merged images (mmagic's preprocessing
    writes those as PNGs), foregrounds JPEGs; sizes vary by up to 25% (odd
    test sizes)."""
    data_root = osp.join(root, 'adobe_composition-1k')
    for split, count, offset in (('train', num_train, 0),
                                 ('test', num_val, 10**6)):
        entries = []
        for i in range(count):
            rng = np.random.RandomState(seed * 10**7 + offset + i)
            shape = jittered_size(rng, size)
            alpha = _alpha(rng, shape)
            fg = _foreground(rng, shape).astype(np.float32)
            bg, _, _ = render_scene(rng, jittered_size(rng, size),
                                    ADE20K_CLASSES, int(rng.randint(2, 6)))
            bg_fit = cv2.resize(bg, shape[::-1]).astype(np.float32)
            a = np.round(alpha * 255)[..., None] / 255
            merged = np.clip(np.round(a * fg + (1 - a) * bg_fit), 0,
                             255).astype(np.uint8)
            alpha8 = np.round(alpha * 255).astype(np.uint8)
            name = f'{split}_{i:04d}'
            if split == 'train':
                fg_dir, bg_dir, merged_dir = (TRAIN_FG, 'Training_set/bg',
                                              'Training_set/merged')
            else:
                fg_dir, bg_dir, merged_dir = (TEST_FG, 'Test_set/bg',
                                              'Test_set/merged')
            entry = dict(
                alpha_path=_write(data_root, f'{fg_dir}/alpha/{name}.png',
                                  alpha8),
                fg_path=_write(data_root, f'{fg_dir}/fg/{name}.jpg',
                               fg.astype(np.uint8)),
                bg_path=_write(data_root, f'{bg_dir}/{name}.png', bg),
                merged_path=_write(data_root, f'{merged_dir}/{name}.png',
                                   merged))
            if split == 'test':
                entry['trimap_path'] = _write(
                    data_root, f'{fg_dir}/trimaps/{name}.png',
                    _trimap(alpha8.astype(np.float32) / 255))
            entries.append(entry)
        name = 'training_list.json' if split == 'train' else 'test_list.json'
        with open(osp.join(data_root, name), 'w') as f:
            json.dump(entries, f, indent=1)
    return data_root
