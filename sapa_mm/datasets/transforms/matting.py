"""The data pipeline of A2U matting, registered in mmseg's ``TRANSFORMS``:
loading, two-foreground mixing, resizing, random affine transforms, online
compositing, trimaps by random erosion, a crop at an unknown pixel, flips,
HSV jitter, and packing.

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


def _read_pair(alpha_path: str, fg_path: str):
    alpha = cv2.imread(alpha_path, cv2.IMREAD_GRAYSCALE)
    fg = cv2.imread(fg_path, cv2.IMREAD_COLOR)
    if alpha is None or fg is None:
        raise FileNotFoundError(f'cannot read {alpha_path} or {fg_path}')
    return alpha.astype(np.float32) / 255, fg[..., ::-1].astype(np.float32)


@TRANSFORMS.register_module()
class MixForegrounds(BaseTransform):
    """With probability ``prob``, a second training foreground (the
    dataset's ``other_alpha_path`` / ``other_fg_path``, resized to the
    first) over the first: alpha = 1 - (1 - a1)(1 - a2), fg = a1 fg1 +
    (1 - a1) fg2; kept only where the union still has a pixel below 1."""

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'MixForegrounds: prob must be in [0, 1], got '
                             f'{prob}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        if 'other_alpha_path' not in results or \
                np.random.rand() >= self.prob:
            return results
        alpha2, fg2 = _read_pair(results['other_alpha_path'],
                                 results['other_fg_path'])
        alpha, fg = results['alpha'], results['fg']
        H, W = alpha.shape
        alpha2 = cv2.resize(alpha2, (W, H), interpolation=cv2.INTER_LINEAR)
        fg2 = cv2.resize(fg2, (W, H), interpolation=cv2.INTER_LINEAR)
        union = 1 - (1 - alpha) * (1 - alpha2)
        if np.any(union < 1):
            a = alpha[..., None]
            results['fg'] = a * fg + (1 - a) * fg2
            results['alpha'] = union
        return results


@TRANSFORMS.register_module()
class ResizeForeground(BaseTransform):
    """With probability ``prob``, the foreground and its alpha resized to
    ``size`` (h, w), e.g. 640x640 (bilinear)."""

    def __init__(self, size: Tuple[int, int] = (640, 640),
                 prob: float = 0.25) -> None:
        if len(size) != 2 or min(size) <= 0 or not 0 <= prob <= 1:
            raise ValueError(f'ResizeForeground: size must be (h, w) > 0 and '
                             f'prob in [0, 1], got size={size}, prob={prob}')
        self.size, self.prob = tuple(size), prob

    def transform(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            h, w = self.size
            for key in ('alpha', 'fg'):
                results[key] = cv2.resize(results[key], (w, h),
                                          interpolation=cv2.INTER_LINEAR)
        return results


@TRANSFORMS.register_module()
class RandomAffine(BaseTransform):
    """A random rotation (+-``degrees``), scale (in ``scale``) and shear
    (+-``shear`` degrees along x) about the centre of the foreground and
    its alpha (bilinear; zero alpha outside), as the matting recipes'
    affine augmentation."""

    def __init__(self, degrees: float = 30,
                 scale: Tuple[float, float] = (0.8, 1.25),
                 shear: float = 10) -> None:
        if degrees < 0 or shear < 0 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f'RandomAffine: degrees and shear must be >= 0 '
                             f'and scale (low, high) with 0 < low <= high, '
                             f'got degrees={degrees}, scale={scale}, '
                             f'shear={shear}')
        self.degrees, self.scale, self.shear = degrees, tuple(scale), shear

    def transform(self, results: dict) -> dict:
        H, W = results['alpha'].shape
        angle = np.deg2rad(np.random.uniform(-self.degrees, self.degrees))
        s = np.random.uniform(*self.scale)
        shear = np.deg2rad(np.random.uniform(-self.shear, self.shear))
        rotation = np.array([[np.cos(angle), -np.sin(angle)],
                             [np.sin(angle), np.cos(angle)]])
        linear = s * rotation @ np.array([[1, np.tan(shear)], [0, 1]])
        centre = np.array([(W - 1) / 2, (H - 1) / 2])
        matrix = np.hstack([linear, (centre - linear @ centre)[:, None]])
        for key in ('alpha', 'fg'):
            results[key] = cv2.warpAffine(
                results[key], matrix, (W, H), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        results['alpha'] = np.clip(results['alpha'], 0, 1)
        return results


def _disk(size: int) -> np.ndarray:
    """The elliptic structuring element of ``size`` x ``size``."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(size),
                                                         int(size)))


@TRANSFORMS.register_module()
class GenerateTrimap(BaseTransform):
    """A trimap from the alpha by random erosion: foreground = (alpha == 1)
    eroded, background = (alpha == 0) eroded, each by an elliptic kernel of
    a random size in ``kernel_range`` (inclusive, pixels), the rest
    unknown."""

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
        fg = cv2.erode((alpha >= 1).astype(np.uint8), _disk(fg_k))
        bg = cv2.erode((alpha <= 0).astype(np.uint8), _disk(bg_k))
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
