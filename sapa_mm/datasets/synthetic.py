"""Small synthetic datasets in the real on-disk formats of ADE20K and COCO.

The upstream dataset classes (``ADE20KDataset``, ``CocoDataset``) load them
unchanged, so the configs of this repository run on them by pointing
``data_root`` here, and on the real data by pointing it there. Scenes are
deterministic in the seed: a textured background class with several objects
of other classes on top (ellipses, polygons, and thin bars and lines whose
boundaries upsampling must keep). Each class has its own colour and stripe
texture, so that a short training run can learn something.
"""
import json
import os
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


def _sizes(rng: np.random.RandomState, size: Tuple[int, int]):
    # Vary the size by up to 25% so test-time sizes are odd and unequal.
    h, w = size
    return (int(h * rng.uniform(0.75, 1.0)), int(w * rng.uniform(0.75, 1.0)))


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
            image, labels, _ = render_scene(rng, _sizes(rng, size),
                                            ADE20K_CLASSES,
                                            int(rng.randint(3, 8)))
            name = f'{prefix}_{i + 1:08d}'
            cv2.imwrite(os.path.join(data_root, 'images', split,
                                     name + '.jpg'), image[..., ::-1])
            cv2.imwrite(os.path.join(data_root, 'annotations', split,
                                     name + '.png'), labels)
    return data_root


def _coco_annotations(objects, image_id: int, next_id: int) -> List[dict]:
    annotations = []
    for label, mask in objects:
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        contours, _ = cv2.findContours(mask.astype(np.uint8),
                                       cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        polygons = [c.reshape(-1).tolist() for c in contours if len(c) >= 3]
        if not polygons:
            continue
        annotations.append(dict(
            id=next_id + len(annotations), image_id=image_id,
            category_id=label, bbox=[int(x0), int(y0), int(x1 - x0),
                                     int(y1 - y0)],
            area=int(mask.sum()), iscrowd=0, segmentation=polygons))
    return annotations


def make_coco(root: str, num_train: int = 32, num_val: int = 8,
              size: Tuple[int, int] = (192, 256), seed: int = 0) -> str:
    """Writes ``root/coco`` (train2017/, val2017/ and
    annotations/instances_{train,val}2017.json with COCO's 80 categories)
    and returns its path."""
    from mmdet.datasets import CocoDataset
    coco_ids = [i for i in range(1, 91) if i not in (
        12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]  # COCO's 80 category ids
    categories = [dict(id=i, name=n, supercategory='none') for i, n in zip(
        coco_ids, CocoDataset.METAINFO['classes'])]
    data_root = os.path.join(root, 'coco')
    os.makedirs(os.path.join(data_root, 'annotations'), exist_ok=True)
    for split, count, offset in (('train2017', num_train, 0),
                                 ('val2017', num_val, 10**6)):
        os.makedirs(os.path.join(data_root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            rng = np.random.RandomState(seed * 10**7 + offset + i)
            image, _, objects = render_scene(
                rng, _sizes(rng, size), (0, ) + COCO_CATEGORIES,
                int(rng.randint(2, 6)))
            image_id = offset + i + 1
            name = f'{image_id:012d}.jpg'
            cv2.imwrite(os.path.join(data_root, split, name),
                        image[..., ::-1])
            images.append(dict(id=image_id, file_name=name,
                               height=image.shape[0], width=image.shape[1]))
            # class 0 is the background: not an object
            objects = [(lab, m) for lab, m in objects if lab != 0]
            annotations += _coco_annotations(objects, image_id,
                                             len(annotations) + 1)
        with open(os.path.join(data_root, 'annotations',
                               f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations,
                           categories=categories), f)
    return data_root
