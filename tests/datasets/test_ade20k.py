"""sapa_mm.datasets.ade20k: the mini ADE20K is deterministic and mmseg's
ADE20KDataset reads it as it is."""
import pytest

pytest.importorskip('mmseg')
from sapa_mm.datasets import make_ade20k  # noqa: E402


def test_mini_ade20k_is_deterministic(tmp_path, mini_ade20k,
                                     assert_same_files):
    again = make_ade20k(str(tmp_path), num_train=8, num_val=4)
    assert_same_files(again, mini_ade20k,
                      ('images/training', 'annotations/validation'))


def test_mini_ade20k_loads_with_the_upstream_class(mini_ade20k):
    import numpy as np
    from mmengine.registry import init_default_scope
    from mmseg.datasets import ADE20KDataset
    init_default_scope('mmseg')
    ade = ADE20KDataset(
        data_root=mini_ade20k,
        data_prefix=dict(img_path='images/training',
                         seg_map_path='annotations/training'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True)])
    sample = ade[0]
    labels = np.unique(sample['gt_seg_map'])
    assert len(ade) == 8 and len(labels) >= 2 and labels.max() < 150
