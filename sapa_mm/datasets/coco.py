"""A mini COCO: synthetic scenes in COCO's on-disk format (images and
instance JSON), read by mmdet's ``CocoDataset`` unchanged."""
import json
import os
from typing import List, Tuple

import cv2
import numpy as np

from .scenes import COCO_CATEGORIES, jittered_size, render_scene


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
                rng, jittered_size(rng, size), (0, ) + COCO_CATEGORIES,
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
