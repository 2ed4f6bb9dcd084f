"""A mini NYU Depth V2: synthetic indoor scenes in the on-disk format of
mmseg's ``NYUDataset`` (as its converter writes it), read unchanged.

A scene is a room seen by a pinhole camera: floor, ceiling, side walls and
a back wall (planes), with axis-aligned boxes (furniture) in front, whose
outlines are depth edges. Depth is the z-depth in metres; a few small
holes have no depth (0), as the real Kinect maps have.
"""
import os
from typing import Tuple

import cv2
import numpy as np

from .scenes import jittered_size

#: Scene names of the files (NYUDataset's categories).
ROOMS = ('bedroom', 'kitchen', 'living_room', 'office', 'bathroom')
#: The deepest back wall (m): within NYU's 10 m range.
MAX_ROOM_DEPTH = 9.0


def _room_depth(rng: np.random.RandomState, size: Tuple[int, int]):
    """(z-depth in m, surface index) of a random room with boxes."""
    h, w = size
    f = rng.uniform(0.8, 1.1) * w  # focal length in pixels
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    dx = (xs - w / 2 + rng.uniform(-0.1, 0.1) * w) / f
    dy = (ys - h / 2 + rng.uniform(-0.1, 0.1) * h) / f
    half_width = rng.uniform(1.5, 3.0)
    floor, ceiling = rng.uniform(1.0, 1.6), rng.uniform(1.0, 1.6)
    back = rng.uniform(4.0, MAX_ROOM_DEPTH)
    with np.errstate(divide='ignore', invalid='ignore'):
        # z at which the ray (dx, dy, 1) meets each plane; the camera looks
        # along +z, y points down.
        candidates = [np.full((h, w), back),
                      np.where(dx < 0, -half_width / dx, np.inf),
                      np.where(dx > 0, half_width / dx, np.inf),
                      np.where(dy > 0, floor / dy, np.inf),
                      np.where(dy < 0, -ceiling / dy, np.inf)]
        depth = np.stack(candidates)
        surface = depth.argmin(0)
        depth = depth.min(0)
        for k in range(int(rng.randint(2, 5))):
            # A box standing on the floor.
            z0 = rng.uniform(1.0, back - 0.5)
            z1 = min(z0 + rng.uniform(0.3, 1.5), back)
            x0 = rng.uniform(-half_width, half_width - 0.4)
            x1 = min(x0 + rng.uniform(0.3, 1.5), half_width)
            y1, y0 = floor, floor - rng.uniform(0.3, 1.5)
            # Slabs: the ray (dx, dy, 1) at z = t; entry = max of the lower
            # bounds, exit = min of the upper ones.
            tx = np.sort(np.stack([x0 / dx, x1 / dx]), 0)
            ty = np.sort(np.stack([y0 / dy, y1 / dy]), 0)
            enter = np.nanmax(np.stack([tx[0], ty[0], np.full_like(dx, z0)]),
                              0)
            leave = np.nanmin(np.stack([tx[1], ty[1], np.full_like(dx, z1)]),
                              0)
            hit = (enter <= leave) & (enter > 0) & (enter < depth)
            depth = np.where(hit, enter, depth)
            surface = np.where(hit, 5 + k, surface)
    return depth, surface


def _render(rng: np.random.RandomState, depth: np.ndarray,
            surface: np.ndarray) -> np.ndarray:
    """An RGB image: a colour and stripe texture per surface, darker with
    depth."""
    h, w = depth.shape
    image = np.zeros((h, w, 3), np.float64)
    yy, xx = np.mgrid[:h, :w]
    for s in np.unique(surface):
        mask = surface == s
        colour = rng.randint(40, 230, 3)
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 20)
        stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 *
                         np.pi / period)
        texture = colour[None, None] + 20 * stripes[..., None]
        image[mask] = texture[mask]
    shading = 1.2 - 0.08 * depth
    image = image * shading[..., None] + rng.normal(0, 4, (h, w, 1))
    return np.clip(image, 0, 255).astype(np.uint8)


def _holes(rng: np.random.RandomState, depth: np.ndarray) -> np.ndarray:
    """Depth with a few small patches of no measurement (0)."""
    h, w = depth.shape
    depth = depth.copy()
    for _ in range(int(rng.randint(0, 4))):
        cy, cx = rng.randint(0, h), rng.randint(0, w)
        r = int(rng.randint(2, max(3, min(h, w) // 12)))
        depth[max(0, cy - r):cy + r, max(0, cx - r):cx + r] = 0
    return depth


def make_nyu(root: str, num_train: int = 32, num_val: int = 8,
             size: Tuple[int, int] = (192, 256), seed: int = 0) -> str:
    """Writes ``root/nyu`` (images/{train,test}/<room>_<n>.jpg and
    annotations/{train,test}/<room>_<n>.png, depth as uint16 millimetres,
    0 = no depth) and returns its path. Sizes vary up to 25% below
    ``size``, so test images have odd sizes."""
    data_root = os.path.join(root, 'nyu')
    for split, count, offset in (('train', num_train, 0),
                                 ('test', num_val, 10**6)):
        for sub in ('images', 'annotations'):
            os.makedirs(os.path.join(data_root, sub, split), exist_ok=True)
        for i in range(count):
            rng = np.random.RandomState(seed * 10**7 + offset + i)
            depth, surface = _room_depth(rng, jittered_size(rng, size))
            image = _render(rng, depth, surface)
            depth_mm = np.round(_holes(rng, depth) * 1000).astype(np.uint16)
            name = f'{ROOMS[i % len(ROOMS)]}_{i + 1:05d}'
            cv2.imwrite(os.path.join(data_root, 'images', split,
                                     name + '.jpg'), image[..., ::-1])
            cv2.imwrite(os.path.join(data_root, 'annotations', split,
                                     name + '.png'), depth_mm)
    return data_root
