"""sapa_mm.datasets.coco: the mini COCO is deterministic and mmdet's
CocoDataset reads it as it is, every image with objects."""
import pytest

pytest.importorskip('mmdet')
from sapa_mm.datasets import make_coco  # noqa: E402


def test_mini_coco_is_deterministic(tmp_path, mini_coco, assert_same_files):
    again = make_coco(str(tmp_path), num_train=8, num_val=4)
    assert_same_files(again, mini_coco,
                      ('train2017', 'val2017', 'annotations'))


def test_mini_coco_loads_with_the_upstream_class(mini_coco):
    from mmdet.datasets import CocoDataset
    coco = CocoDataset(data_root=mini_coco,
                       ann_file='annotations/instances_train2017.json',
                       data_prefix=dict(img='train2017/'), pipeline=[])
    assert len(coco) > 0
    assert all(len(coco[i]['instances']) > 0 for i in range(len(coco)))
