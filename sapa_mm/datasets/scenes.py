"""Synthetic labelled scenes for the mini segmentation and detection data.

A scene is a textured background class with several objects of other
classes on top (ellipses, polygons, and thin bars and lines whose boundaries
upsampling must keep), deterministic in its random state. Each class has its
own colour and stripe texture, so that a short training run can learn
something.
"""
from typing import List, Sequence, Tuple

import cv2
import numpy as np

# A subset of the classes, so a short run sees each one often.
ADE20K_CLASSES = (1, 2, 3, 5, 7, 13, 15, 21)  # 1-based ADE20K label values
COCO_CATEGORIES = (1, 3, 18, 44, 62)  # person, car, dog, bottle, chair


def _class_style(label: int) -> Tuple[np.ndarray, float, float]:
    """Colour, stripe angle and stripe period of a class (fixed per class)."""
    rng = np.random.RandomState(1000 + label)
    return rng.randint(30, 226, 3), rng.uniform(0, np.pi), rng.uniform(4, 16)


def _paint(image: np.ndarray, mask: np.ndarray, label: int,
           rng: np.random.RandomState) -> None:
    colour, angle, period = _class_style(label)
    h, w = mask.shape
    yy, xx = np.mgrid[:h, :w]
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi /
                     period)
    texture = colour[None, None, :] + 35 * stripes[..., None] + \
        rng.normal(0, 8, (h, w, 1))
    image[mask] = np.clip(texture[mask], 0, 255).astype(np.uint8)


def _shape_mask(kind: str, h: int, w: int,
                rng: np.random.RandomState) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cx, cy = int(rng.randint(0, w)), int(rng.randint(0, h))
    if kind == 'ellipse':
        axes = (int(rng.randint(w // 12, w // 4)),
                int(rng.randint(h // 12, h // 4)))
        cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360,
                    1, -1)
    elif kind == 'polygon':
        n = rng.randint(3, 7)
        radius = rng.randint(min(h, w) // 10, min(h, w) // 4)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        points = np.stack([cx + radius * np.cos(angles),
                           cy + radius * np.sin(angles)], 1)
        cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    else:  # a thin bar or line: a pole, a cable
        x2, y2 = int(rng.randint(0, w)), int(rng.randint(0, h))
        cv2.line(mask, (cx, cy), (x2, y2), 1, int(rng.randint(1, 4)))
    return mask.astype(bool)


Objects = List[Tuple[int, np.ndarray]]


def render_scene(rng: np.random.RandomState, size: Tuple[int, int],
                 classes: Sequence[int],
                 n_objects: int) -> Tuple[np.ndarray, np.ndarray, Objects]:
    """An RGB image, its label map and the (label, mask) of each object.

    The first class of a random draw is the background; later objects occlude
    earlier ones, and the returned masks are the visible parts."""
    h, w = size
    image = np.zeros((h, w, 3), np.uint8)
    labels = np.zeros((h, w), np.uint8)
    background = int(rng.choice(classes))
    _paint(image, np.ones((h, w), bool), background, rng)
    labels[:] = background
    objects = []
    for _ in range(n_objects):
        label = int(rng.choice([c for c in classes if c != background]))
        kind = rng.choice(['ellipse', 'polygon', 'thin'], p=[.4, .4, .2])
        mask = _shape_mask(kind, h, w, rng)
        if mask.sum() < 16:
            continue
        _paint(image, mask, label, rng)
        labels[mask] = label
        objects = [(lab, m & ~mask) for lab, m in objects]
        objects.append((label, mask))
    return image, labels, [(lab, m) for lab, m in objects if m.sum() >= 16]


def jittered_size(rng: np.random.RandomState, size: Tuple[int, int]):
    # Vary the size by up to 25% so test-time sizes are odd and unequal.
    h, w = size
    return (int(h * rng.uniform(0.75, 1.0)), int(w * rng.uniform(0.75, 1.0)))
