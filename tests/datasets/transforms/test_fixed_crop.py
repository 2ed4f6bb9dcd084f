"""sapa_mm.datasets.transforms.fixed_crop: the image and its maps cut to one
box, clipped to the image; bad boxes name themselves."""
import numpy as np
import pytest

pytest.importorskip('mmseg')
from mmseg.registry import TRANSFORMS  # noqa: E402

import sapa_mm  # noqa: E402,F401  (registers the transform)


def sample(h, w):
    img = np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)
    depth = np.arange(h * w, dtype=np.float32).reshape(h, w)
    return dict(img=img, gt_depth_map=depth, seg_fields=['gt_depth_map'],
                img_shape=(h, w))


def test_crop_cuts_the_image_and_its_maps():
    crop = TRANSFORMS.build(dict(type='FixedCrop', box=(43, 45, 608, 472)))
    data = sample(480, 640)
    img, depth = data['img'].copy(), data['gt_depth_map'].copy()
    out = crop(data)
    assert out['img'].shape == (427, 565, 3) and out['img_shape'] == (427, 565)
    np.testing.assert_array_equal(out['img'], img[45:472, 43:608])
    np.testing.assert_array_equal(out['gt_depth_map'], depth[45:472, 43:608])
    # clipped to a smaller image
    out = crop(sample(100, 120))
    assert out['img'].shape[:2] == out['gt_depth_map'].shape == (55, 77)


def test_crop_errors():
    with pytest.raises(ValueError,
                       match=r'box must be 4 ints.*\(5, 0, 5, 9\)'):
        TRANSFORMS.build(dict(type='FixedCrop', box=(5, 0, 5, 9)))
    crop = TRANSFORMS.build(dict(type='FixedCrop', box=(50, 0, 60, 9)))
    with pytest.raises(ValueError, match='starts outside the image'):
        crop(sample(10, 40))
