"""sapa_mm.datasets.nyu: the mini NYU Depth V2 is deterministic, in the
converter's layout, and mmseg's NYUDataset with LoadDepthAnnotation reads
it as it is: millimetre PNGs, depths within NYU's range, holes of 0."""
import os

import cv2
import numpy as np
import pytest

pytest.importorskip('mmseg')
from sapa_mm.datasets import MINI_DATASETS, make_nyu  # noqa: E402


def test_mini_nyu_is_deterministic(tmp_path, mini_nyu, assert_same_files):
    assert MINI_DATASETS['nyu'] is make_nyu
    again = make_nyu(str(tmp_path), num_train=8, num_val=4)
    assert_same_files(again, mini_nyu, ('images/train', 'annotations/test'))


def test_mini_nyu_depth_maps_are_uint16_millimetres(mini_nyu):
    folder = os.path.join(mini_nyu, 'annotations', 'train')
    names = sorted(os.listdir(folder))
    assert len(names) == 8 and 'living_room_00003.png' in names
    depths = [cv2.imread(os.path.join(folder, n), cv2.IMREAD_UNCHANGED)
              for n in names]
    assert all(d.dtype == np.uint16 for d in depths)
    values = np.concatenate([d.ravel() for d in depths])
    valid = values[values > 0]
    assert valid.min() > 100 and valid.max() < 10_000  # 0.1 m .. 10 m
    assert (values == 0).any()  # holes without depth
    # depth edges: boxes in front of the walls
    assert max(np.abs(np.diff(d.astype(float), axis=1)).max()
               for d in depths) > 500


def test_mini_nyu_loads_with_the_upstream_class(mini_nyu):
    from mmengine.registry import init_default_scope
    from mmseg.datasets import NYUDataset
    init_default_scope('mmseg')
    nyu = NYUDataset(
        data_root=mini_nyu, test_mode=True,
        data_prefix=dict(img_path='images/test',
                         depth_map_path='annotations/test'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadDepthAnnotation',
                       depth_rescale_factor=1e-3)])
    sample = nyu[0]
    assert len(nyu) == 4
    depth = sample['gt_depth_map']
    assert depth.shape == sample['img'].shape[:2]
    assert depth.dtype == np.float32 and 0.1 < depth.max() < 10
    assert sample['category_id'] == nyu.metainfo['classes'].index('bedroom')
