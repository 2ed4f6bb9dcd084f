"""tools/train.py and tools/test.py end to end on the mini datasets: train
-> checkpoint -> resume -> test for segmentation and detection, and a
2-process gloo run of tools/dist_train.sh."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

pytest.importorskip('mmseg')
pytest.importorskip('mmdet')
from sapa_mm.tables import TABLES  # noqa: E402

SEGFORMER = TABLES['segformer-ade20k']
FASTER_RCNN = TABLES['faster-rcnn-coco']


@pytest.mark.parametrize('config, data', [
    (SEGFORMER.config_path('sapa-b'), 'ade20k'),
    (FASTER_RCNN.config_path('sapa-b'), 'coco'),
], ids=['segformer', 'faster-rcnn'])
def test_train_resume_test_round_trip(tmp_path, mini_data, run_tool, config,
                                      data):
    work_dir = str(tmp_path / 'work')
    common = ['--data-root', mini_data[data], '--mini', '4']
    run_tool('tools/train.py', config, '--work-dir', work_dir, *common)
    assert sorted(f for f in os.listdir(work_dir) if f.endswith('.pth')) == [
        'iter_2.pth', 'iter_4.pth'
    ]
    # resume from the latest checkpoint and train 2 more iterations
    log = run_tool('tools/train.py', config, '--work-dir', work_dir,
                   '--resume', *common, '--cfg-options',
                   'train_cfg.max_iters=6')
    assert 'resumed' in log and 'iter: 4' in log
    checkpoint = osp.join(work_dir, 'iter_6.pth')
    assert osp.exists(checkpoint)
    # loads with torch.load(weights_only=True), as mmengine does
    import sapa_mm  # noqa: F401
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    assert state['meta']['iter'] == 6
    metrics_file = str(tmp_path / 'metrics.json')
    run_tool('tools/test.py', config, checkpoint, '--work-dir',
             str(tmp_path / 'test'), '--out-metrics', metrics_file, *common)
    with open(metrics_file) as f:
        metrics = json.load(f)
    key = 'mIoU' if data == 'ade20k' else 'coco/bbox_mAP'
    assert key in metrics and metrics[key] >= 0


def test_dist_train_two_processes_gloo(tmp_path, mini_data, repo_root):
    work_dir = str(tmp_path / 'dist')
    env = dict(os.environ, PYTHON=sys.executable, PORT='29533')
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', SEGFORMER.config_path('sapa-i'), '2',
         '--work-dir', work_dir, '--data-root', mini_data['ade20k'],
         '--mini', '2'],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "backend='gloo'" in log or "'backend': 'gloo'" in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'terminate called' not in log
    assert 'broadcast_buffers' not in log  # torch 2.13's deprecation
    assert osp.exists(osp.join(work_dir, 'iter_2.pth'))
