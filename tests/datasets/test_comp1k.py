"""sapa_mm.datasets.comp1k and the Composition-1K dataset and transforms:
the mini set is deterministic, in mmagic's layout, and the training and
test pipelines of the configs read it."""
import json
import os.path as osp

import numpy as np
import pytest

pytest.importorskip('mmseg')
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, TRANSFORMS

import sapa_mm  # noqa: F401  (registers the dataset and transforms)
from sapa_mm.datasets import make_comp1k
from sapa_mm.tables import TABLES

CONFIG = TABLES['a2u-matting-comp1k'].config_path('nearest')


def test_mini_comp1k_is_deterministic(tmp_path, mini_comp1k,
                                      assert_same_files):
    again = make_comp1k(str(tmp_path), num_train=4, num_val=2)
    assert_same_files(again, mini_comp1k, (
        'Training_set/Adobe-licensed images/alpha', 'Test_set/merged',
        'Test_set/Adobe-licensed images/trimaps'))


def test_mini_comp1k_layout_and_mattes(mini_comp1k):
    import cv2
    with open(osp.join(mini_comp1k, 'training_list.json')) as f:
        train = json.load(f)
    with open(osp.join(mini_comp1k, 'test_list.json')) as f:
        test = json.load(f)
    assert len(train) == 4 and len(test) == 2
    assert set(train[0]) == {'alpha_path', 'fg_path', 'bg_path',
                             'merged_path'}
    assert set(test[0]) == set(train[0]) | {'trimap_path'}
    alpha = cv2.imread(osp.join(mini_comp1k, train[0]['alpha_path']), 0)
    soft = (alpha > 0) & (alpha < 255)
    assert soft.sum() > 50 and (alpha == 255).any() and (alpha == 0).any()
    trimap = cv2.imread(osp.join(mini_comp1k, test[0]['trimap_path']), 0)
    assert set(np.unique(trimap)) == {0, 128, 255}


def dataset(mini_comp1k, split):
    config = Config.fromfile(CONFIG)
    init_default_scope('mmseg')
    cfg = config[f'{split}_dataloader'].dataset
    cfg.data_root = mini_comp1k
    return DATASETS.build(cfg)


def test_training_pipeline(mini_comp1k):
    train = dataset(mini_comp1k, 'train')
    for transform in train.pipeline.transforms:
        if type(transform).__name__ == 'CropAroundUnknown':
            transform.crop_size = (64, 48)
    np.random.seed(0)
    item = train[0]
    sample = item['data_samples']
    assert item['inputs'].shape == (4, 64, 48)
    # Another training foreground for the mixing, never the item's own.
    info = train.get_data_info(0)
    assert info['other_alpha_path'] != info['alpha_path']
    assert osp.exists(info['other_fg_path'])
    assert sample.gt_alpha.shape == (1, 64, 48)
    assert sample.gt_fg.shape == sample.gt_bg.shape == (3, 64, 48)
    trimap = sample.trimap[0].numpy()
    assert set(np.unique(trimap)) <= {0, 128, 255} and (trimap == 128).any()
    # Composited online: merged = alpha fg + (1 - alpha) bg.
    a = sample.gt_alpha
    merged = a * sample.gt_fg + (1 - a) * sample.gt_bg
    np.testing.assert_allclose(item['inputs'][:3].numpy() / 255,
                               merged.numpy(), atol=1e-4)
    np.testing.assert_array_equal(item['inputs'][3].numpy(), trimap)


def test_test_pipeline_keeps_the_full_image(mini_comp1k):
    test = dataset(mini_comp1k, 'val')
    item = test[0]
    h, w = item['data_samples'].ori_shape
    assert item['inputs'].shape == (4, h, w)
    assert item['data_samples'].trimap.shape == (1, h, w)


def test_generate_trimap_and_crop():
    init_default_scope('mmseg')
    alpha = np.zeros((40, 40), np.float32)
    alpha[10:30, 10:30] = 1
    alpha[9, 10:30] = 0.5
    trimap = TRANSFORMS.build(dict(type='GenerateTrimap',
                                   kernel_range=(5, 5)))(
                                       dict(alpha=alpha))['trimap']
    # A 5x5 disk: 2 pixels of each straight side become unknown.
    assert trimap[20, 20] == 255 and trimap[0, 0] == 0
    assert trimap[9, 20] == 128 and trimap[11, 20] == 128
    assert trimap[12, 20] == 255 and trimap[6, 20] == 0
    crop = TRANSFORMS.build(dict(type='CropAroundUnknown', crop_size=(8, 8)))
    out = crop(dict(alpha=alpha, trimap=trimap))
    assert out['alpha'].shape == (8, 8) and (out['trimap'] == 128).any()
    with pytest.raises(ValueError, match='kernel_range'):
        TRANSFORMS.build(dict(type='GenerateTrimap', kernel_range=(0, 3)))


def test_mix_resize_and_affine(mini_comp1k):
    init_default_scope('mmseg')
    train = dataset(mini_comp1k, 'train')
    load = TRANSFORMS.build(dict(type='LoadMattingFiles',
                                 keys=('alpha', 'fg')))
    results = load(train.get_data_info(1))
    first = dict(alpha=results['alpha'].copy(), fg=results['fg'].copy())
    mixed = TRANSFORMS.build(dict(type='MixForegrounds', prob=1))(results)
    other = load(dict(alpha_path=results['other_alpha_path'],
                      fg_path=results['other_fg_path']))
    import cv2
    H, W = first['alpha'].shape
    a2 = cv2.resize(other['alpha'], (W, H))
    np.testing.assert_allclose(mixed['alpha'],
                               1 - (1 - first['alpha']) * (1 - a2),
                               atol=1e-6)
    a1 = first['alpha'][..., None]
    np.testing.assert_allclose(
        mixed['fg'], a1 * first['fg'] + (1 - a1) * cv2.resize(other['fg'],
                                                             (W, H)),
        atol=1e-3)
    resized = TRANSFORMS.build(dict(type='ResizeForeground', size=(40, 30),
                                    prob=1))(dict(first))
    assert resized['alpha'].shape == (40, 30)
    assert resized['fg'].shape == (40, 30, 3)
    identity = TRANSFORMS.build(dict(type='RandomAffine', degrees=0,
                                     scale=(1, 1), shear=0))(dict(first))
    np.testing.assert_allclose(identity['alpha'], first['alpha'], atol=1e-6)
    np.random.seed(1)
    moved = TRANSFORMS.build(dict(type='RandomAffine'))(dict(first))
    assert moved['alpha'].shape == first['alpha'].shape
    assert 0 <= moved['alpha'].min() and moved['alpha'].max() <= 1
    assert not np.allclose(moved['alpha'], first['alpha'])
    with pytest.raises(ValueError, match='scale'):
        TRANSFORMS.build(dict(type='RandomAffine', scale=(0, 1)))
