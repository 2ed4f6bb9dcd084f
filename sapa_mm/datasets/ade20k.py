"""A mini ADE20K: synthetic scenes in ADE20K's on-disk format, read by mmseg's
``ADE20KDataset`` unchanged."""
import os
from typing import Tuple

import cv2
import numpy as np

from .scenes import ADE20K_CLASSES, jittered_size, render_scene


def make_ade20k(root: str, num_train: int = 32, num_val: int = 8,
                size: Tuple[int, int] = (192, 256), seed: int = 0) -> str:
    """Writes ``root/ADEChallengeData2016`` (images/ and annotations/, JPEG
    images and 0..150 label PNGs, 0 = other) and returns its path."""
    data_root = os.path.join(root, 'ADEChallengeData2016')
    for split, count, offset in (('training', num_train, 0),
                                 ('validation', num_val, 10**6)):
        os.makedirs(os.path.join(data_root, 'images', split), exist_ok=True)
        os.makedirs(os.path.join(data_root, 'annotations', split),
                    exist_ok=True)
        prefix = 'ADE_train' if split == 'training' else 'ADE_val'
        for i in range(count):
            rng = np.random.RandomState(seed * 10**7 + offset + i)
            image, labels, _ = render_scene(rng, jittered_size(rng, size),
                                            ADE20K_CLASSES,
                                            int(rng.randint(3, 8)))
            name = f'{prefix}_{i + 1:08d}'
            cv2.imwrite(os.path.join(data_root, 'images', split,
                                     name + '.jpg'), image[..., ::-1])
            cv2.imwrite(os.path.join(data_root, 'annotations', split,
                                     name + '.png'), labels)
    return data_root
