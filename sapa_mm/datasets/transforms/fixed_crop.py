"""A crop to a fixed box of the image and its maps (mmseg registry)."""
from typing import Sequence

from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class FixedCrop(BaseTransform):
    """Crops the image and every map of ``seg_fields`` (e.g. the depth map)
    to ``box`` = (x0, y0, x1, y1), pixel columns x0..x1-1 and rows
    y0..y1-1, clipped to the image; BTS cuts NYU's frame border so with
    (43, 45, 608, 472) before its training augmentation.

    Args:
        box: (x0, y0, x1, y1), 0 <= x0 < x1 and 0 <= y0 < y1.
    """

    def __init__(self, box: Sequence[int]) -> None:
        super().__init__()
        if len(box) != 4 or not all(isinstance(v, int) for v in box) or \
                not 0 <= box[0] < box[2] or not 0 <= box[1] < box[3]:
            raise ValueError(f'FixedCrop: box must be 4 ints (x0, y0, x1, '
                             f'y1) with 0 <= x0 < x1 and 0 <= y0 < y1, got '
                             f'{box!r}')
        self.box = tuple(box)

    def transform(self, results: dict) -> dict:
        x0, y0, x1, y1 = self.box
        h, w = results['img'].shape[:2]
        if x0 >= w or y0 >= h:
            raise ValueError(f'FixedCrop: box={self.box} starts outside the '
                             f'image of shape {results["img"].shape}')
        x1, y1 = min(x1, w), min(y1, h)
        results['img'] = results['img'][y0:y1, x0:x1]
        for key in results.get('seg_fields', []):
            results[key] = results[key][y0:y1, x0:x1]
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(box={self.box})'
