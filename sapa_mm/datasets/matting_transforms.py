"""The data pipeline of A2U matting, registered in mmseg's ``TRANSFORMS``:
loading, online compositing, trimaps by random erosion, a crop at an
unknown pixel, flips, HSV jitter, and packing.

Maps are numpy arrays under the results' keys: 'alpha' (H, W) float32 in
[0, 1], 'fg' / 'bg' / 'merged' (H, W, 3) float32 RGB in [0, 255], 'trimap'
(H, W) uint8 in {0, 128, 255}.
"""
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement
from mmseg.registry import TRANSFORMS

#: The image keys (RGB) and the single-channel keys.
IMAGE_KEYS = ('fg', 'bg', 'merged')
MAP_KEYS = ('alpha', 'trimap')


@TRANSFORMS.register_module()
class LoadMattingFiles(BaseTransform):
    """Reads ``results[key + '_path']`` into ``results[key]`` for each key
    (see the module docstring for the formats); sets 'ori_shape' and
    'img_shape' from the first."""

    def __init__(self, keys: Sequence[str] = ('alpha', 'fg', 'bg')) -> None:
        unknown = set(keys) - set(IMAGE_KEYS) - set(MAP_KEYS)
        if unknown:
            raise ValueError(f'LoadMattingFiles: keys must be in '
                             f'{IMAGE_KEYS + MAP_KEYS}, got {sorted(unknown)}')
        self.keys = tuple(keys)

    def transform(self, results: dict) -> dict:
        for key in self.keys:
            path = results[f'{key}_path']
            if key in IMAGE_KEYS:
                image = cv2.imread(path, cv2.IMREAD_COLOR)
            else:
                image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise FileNotFoundError(f'LoadMattingFiles: cannot read '
                                        f'{key}_path={path}')
            if key in IMAGE_KEYS:
                results[key] = image[..., ::-1].astype(np.float32)
            elif key == 'alpha':
                results[key] = image.astype(np.float32) / 255
            else:
                results[key] = image
        shape = results[self.keys[0]].shape[:2]
        results['ori_shape'] = results['img_shape'] = shape
        return results


@TRANSFORMS.register_module()
class GenerateTrimap(BaseTransform):
    """A trimap from the alpha by random erosion: foreground = (alpha == 1)
    eroded, background = (alpha == 0) eroded, each by a square kernel of a
    random size in ``kernel_range`` (inclusive, pixels), the rest unknown."""

    def __init__(self, kernel_range: Tuple[int, int] = (1, 29)) -> None:
        low, high = kernel_range
        if not 1 <= low <= high:
            raise ValueError(f'GenerateTrimap: kernel_range must be (low, '
                             f'high) with 1 <= low <= high, got '
                             f'{kernel_range}')
        self.kernel_range = (low, high)

    def transform(self, results: dict) -> dict:
        alpha = results['alpha']
        low, high = self.kernel_range
        fg_k, bg_k = np.random.randint(low, high + 1, size=2)
        fg = cv2.erode((alpha >= 1).astype(np.uint8),
                       np.ones((fg_k, fg_k), np.uint8))
        bg = cv2.erode((alpha <= 0).astype(np.uint8),
                       np.ones((bg_k, bg_k), np.uint8))
        trimap = np.full(alpha.shape, 128, np.uint8)
        trimap[fg > 0] = 255
        trimap[bg > 0] = 0
        results['trimap'] = trimap
        return results


@TRANSFORMS.register_module()
class CropAroundUnknown(BaseTransform):
    """A ``crop_size`` crop centred, as far as the image allows, on a random
    unknown pixel of the trimap (any pixel without one). Maps smaller than
    the crop are first resized up (aspect kept). 'bg' is resized to the
    alpha's size first (the backgrounds are other images)."""

    def __init__(self, crop_size: Tuple[int, int] = (512, 512)) -> None:
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f'CropAroundUnknown: crop_size must be (h, w) '
                             f'> 0, got {crop_size}')
        self.crop_size = tuple(crop_size)

    def transform(self, results: dict) -> dict:
        keys = [k for k in MAP_KEYS + IMAGE_KEYS if k in results]
        H, W = results['alpha'].shape
        if 'bg' in results and results['bg'].shape[:2] != (H, W):
            results['bg'] = cv2.resize(results['bg'], (W, H),
                                       interpolation=cv2.INTER_LINEAR)
        ch, cw = self.crop_size
        scale = max(ch / H, cw / W, 1)
        if scale > 1:
            size = (int(np.ceil(W * scale)), int(np.ceil(H * scale)))
            for key in keys:
                nearest = key == 'trimap'
                results[key] = cv2.resize(
                    results[key], size, interpolation=cv2.INTER_NEAREST
                    if nearest else cv2.INTER_LINEAR)
            H, W = results['alpha'].shape
        ys, xs = np.nonzero(results['trimap'] == 128)
        if len(ys):
            i = np.random.randint(len(ys))
            cy, cx = ys[i], xs[i]
        else:
            cy, cx = np.random.randint(H), np.random.randint(W)
        top = int(np.clip(cy - ch // 2, 0, H - ch))
        left = int(np.clip(cx - cw // 2, 0, W - cw))
        for key in keys:
            results[key] = results[key][top:top + ch, left:left + cw]
        results['img_shape'] = (ch, cw)
        return results


@TRANSFORMS.register_module()
class MattingFlip(BaseTransform):
    """Flips every map horizontally with probability ``prob``."""

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'MattingFlip: prob must be in [0, 1], got '
                             f'{prob}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            for key in MAP_KEYS + IMAGE_KEYS:
                if key in results:
                    results[key] = np.ascontiguousarray(results[key][:, ::-1])
        return results


@TRANSFORMS.register_module()
class HSVJitter(BaseTransform):
    """Random hue shift (degrees, uniform in +-``hue``) and saturation and
    value offsets (uniform in +-``saturation``, +-``value``, on [0, 1]) of
    the foreground, clipped."""

    def __init__(self, hue: float = 10, saturation: float = 0.1,
                 value: float = 0.1, key: str = 'fg') -> None:
        self.hue, self.saturation, self.value = hue, saturation, value
        self.key = key

    def transform(self, results: dict) -> dict:
        image = results[self.key] / 255
        hsv = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2HSV)
        dh, ds, dv = np.random.uniform(-1, 1, size=3) * (
            self.hue, self.saturation, self.value)
        hsv[..., 0] = np.mod(hsv[..., 0] + dh, 360)
        hsv[..., 1] = np.clip(hsv[..., 1] + ds, 0, 1)
        hsv[..., 2] = np.clip(hsv[..., 2] + dv, 0, 1)
        rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        results[self.key] = np.clip(rgb * 255, 0, 255).astype(np.float32)
        return results


@TRANSFORMS.register_module()
class CompositeFg(BaseTransform):
    """Online compositing: merged = alpha fg + (1 - alpha) bg ('bg' resized
    to the alpha's size where it differs)."""

    def transform(self, results: dict) -> dict:
        alpha = results['alpha']
        H, W = alpha.shape
        bg = results['bg']
        if bg.shape[:2] != (H, W):
            bg = results['bg'] = cv2.resize(bg, (W, H),
                                            interpolation=cv2.INTER_LINEAR)
        a = alpha[..., None]
        results['merged'] = a * results['fg'] + (1 - a) * bg
        return results


@TRANSFORMS.register_module()
class PackMattingInputs(BaseTransform):
    """``inputs``: (4, H, W) float32, the merged RGB in [0, 255] and the
    trimap; ``data_samples``: a ``BaseDataElement`` with ``gt_alpha``
    (1, H, W) in [0, 1], ``trimap`` (1, H, W) uint8 and, where present,
    ``gt_fg`` / ``gt_bg`` (3, H, W) in [0, 1]; metainfo ``ori_shape``,
    ``img_shape`` and the file paths."""

    def __init__(self, meta_keys: Sequence[str] = (
            'ori_shape', 'img_shape', 'merged_path', 'alpha_path',
            'trimap_path')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> Dict:
        for key in ('merged', 'alpha', 'trimap'):
            if key not in results:
                raise KeyError(f'PackMattingInputs: results need {key!r} '
                               f'(load or composite it first); got '
                               f'{sorted(results)}')
        merged = torch.from_numpy(np.ascontiguousarray(
            results['merged'].transpose(2, 0, 1), dtype=np.float32))
        trimap = torch.from_numpy(np.ascontiguousarray(results['trimap']))
        inputs = torch.cat([merged, trimap[None].float()])
        sample = BaseDataElement(metainfo={
            k: results[k] for k in self.meta_keys if k in results})
        sample.gt_alpha = torch.from_numpy(np.ascontiguousarray(
            results['alpha'], dtype=np.float32))[None]
        sample.trimap = trimap[None]
        for key in ('fg', 'bg'):
            if key in results:
                sample.set_field(torch.from_numpy(np.ascontiguousarray(
                    results[key].transpose(2, 0, 1), dtype=np.float32)) /
                    255, f'gt_{key}')
        return dict(inputs=inputs, data_samples=sample)
