"""sapa_mm.engine.runner: configs as the tools prepare them: SyncBN on CPU,
the datasets pointed at another data root, the short CPU schedule, resume,
mixed precision and CPU distributed runs (gloo, DDP without device ids)."""
import os.path as osp

import pytest
import torch

pytest.importorskip('mmdet')
from sapa_mm.engine.runner import _replace_sync_bn, load_config, set_data_root  # noqa: E402
from sapa_mm.tables import TABLES  # noqa: E402

FASTER_RCNN = TABLES['faster-rcnn-coco'].config_path('sapa-b')


def test_replace_sync_bn_everywhere_in_a_config():
    cfg = dict(backbone=dict(norm_cfg=dict(type='SyncBN', eps=1e-3)),
               heads=[dict(norm_cfg=dict(type='SyncBN')),
                      (dict(norm_cfg=dict(type='GN', num_groups=4)), )])
    _replace_sync_bn(cfg)
    assert cfg == dict(backbone=dict(norm_cfg=dict(type='BN', eps=1e-3)),
                       heads=[dict(norm_cfg=dict(type='BN')),
                              (dict(norm_cfg=dict(type='GN',
                                                  num_groups=4)), )])


def test_set_data_root_moves_the_datasets_and_annotations(tmp_path):
    cfg = load_config(FASTER_RCNN)
    old_root = cfg.data_root
    root = str(tmp_path / 'coco') + '/'
    set_data_root(cfg, root)
    assert cfg.data_root == root
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.data_root == root
    for key in ('val_evaluator', 'test_evaluator'):
        ann_file = cfg[key].ann_file
        assert ann_file.startswith(root) and not ann_file.startswith(
            old_root), ann_file


def test_load_config_options(tmp_path):
    work_dir = str(tmp_path / 'work')
    cfg = load_config(
        FASTER_RCNN, work_dir=work_dir, amp=True, resume='auto',
        mini=dict(max_iters=4, val_interval=2),
        cfg_options={'randomness.seed': 3})
    assert cfg.work_dir == work_dir and cfg.randomness.seed == 3
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.train_cfg.max_iters == 4
    cfg = load_config(FASTER_RCNN, load_from='ckpt.pth')
    assert cfg.load_from == 'ckpt.pth'
    assert cfg.work_dir == osp.join(
        './work_dirs', osp.splitext(osp.basename(FASTER_RCNN))[0])


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='CPU distributed runs (gloo)')
def test_load_config_for_a_cpu_distributed_run():
    cfg = load_config(FASTER_RCNN, launcher='pytorch')
    assert cfg.launcher == 'pytorch'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    wrapper = cfg.model_wrapper_cfg
    assert wrapper.type == 'MMDistributedDataParallel'
    assert wrapper.device_ids is None
    assert 'SyncBN' not in str(cfg.model)
