"""BTS's colour augmentation of training images (mmseg registry)."""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


def _check_range(name: str, value: Tuple[float, float]) -> None:
    if len(value) != 2 or not 0 < value[0] <= value[1]:
        raise ValueError(f'BTSPhotometricJitter: {name} must be a range '
                         f'(low, high) with 0 < low <= high, got {value!r}')


@TRANSFORMS.register_module()
class BTSPhotometricJitter(BaseTransform):
    """With probability ``prob``, the image in [0, 1] is raised to a gamma,
    scaled by a brightness and each channel by its own colour factor, each
    drawn uniformly from its range, and clipped to [0, 1] (BTS's NYU
    ranges by default). The image comes back as float32 in [0, 255];
    depth maps are unchanged.

    Args:
        prob: the probability of jittering an image.
        gamma: range of the gamma.
        brightness: range of the brightness factor.
        color: range of the per-channel factors.
    """

    def __init__(self, prob: float = 0.5,
                 gamma: Tuple[float, float] = (0.9, 1.1),
                 brightness: Tuple[float, float] = (0.75, 1.25),
                 color: Tuple[float, float] = (0.9, 1.1)) -> None:
        super().__init__()
        if not 0 <= prob <= 1:
            raise ValueError(f'BTSPhotometricJitter: prob must be in [0, 1], '
                             f'got {prob}')
        for name, value in (('gamma', gamma), ('brightness', brightness),
                            ('color', color)):
            _check_range(name, value)
        self.prob = prob
        self.gamma = tuple(gamma)
        self.brightness = tuple(brightness)
        self.color = tuple(color)

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        if img.ndim != 3:
            raise ValueError(f'BTSPhotometricJitter: img must be (H, W, C), '
                             f'got img.shape={img.shape}')
        img = img.astype(np.float32) / 255
        img = img ** np.random.uniform(*self.gamma)
        img = img * np.random.uniform(*self.brightness)
        img = img * np.random.uniform(*self.color, size=img.shape[2]).astype(
            np.float32)
        results['img'] = (np.clip(img, 0, 1) * 255).astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, gamma={self.gamma}, '
                f'brightness={self.brightness}, color={self.color})')
