"""The tools end to end on the mini datasets: train -> checkpoint -> resume
-> test for segmentation and detection, the reproduction driver with a
kill-and-rerun, a 2-process gloo run, safe checkpoint loading, and the
dataset generator."""
import filecmp
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

pytest.importorskip('mmseg')
pytest.importorskip('mmdet')
from sapa_mm.datasets import make_ade20k, make_coco  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEGFORMER = osp.join(
    ROOT, 'configs/segformer/segformer_mit-b1-{}_8xb2-160k_ade20k-512x512.py')
FASTER_RCNN = osp.join(
    ROOT, 'configs/faster_rcnn/faster-rcnn_r50_guided-fpn-{}_1x_coco.py')


@pytest.fixture(scope='module')
def mini_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mini'))
    return dict(ade20k=make_ade20k(root, num_train=8, num_val=4),
                coco=make_coco(root, num_train=8, num_val=4))


def run_tool(*args, **kwargs):
    result = subprocess.run([sys.executable, *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=900,
                            **kwargs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[
        -3000:]
    return result.stdout + result.stderr


@pytest.mark.parametrize('config, data', [
    (SEGFORMER.format('sapa-b'), 'ade20k'),
    (FASTER_RCNN.format('sapa-b'), 'coco'),
])
def test_train_resume_test_round_trip(tmp_path, mini_data, config, data):
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


def test_tampered_checkpoint_is_refused(tmp_path):
    import sapa_mm  # noqa: F401  (registers the allow-list)

    class Payload:

        def __reduce__(self):
            return (os.system, ('echo tampered',))

    path = str(tmp_path / 'tampered.pth')
    torch.save({'state_dict': {}, 'meta': Payload()}, path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path, map_location='cpu')
    # getattr is only resolved for HistoryBuffer's statistics
    from mmengine.logging import HistoryBuffer

    class GetattrPayload:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    torch.save({'x': GetattrPayload()}, path)
    with pytest.raises(Exception, match='only HistoryBuffer statistics'):
        torch.load(path, map_location='cpu')


def test_reproduce_two_rows_with_kill_and_rerun(tmp_path, mini_data):
    work_dir = str(tmp_path / 'reproduce')
    cmd = [sys.executable, 'tools/reproduce.py', 'segformer-ade20k',
           '--rows', 'bilinear', 'sapa-b', '--mini', '4', '--params-only',
           '--data-root', mini_data['ade20k'], '--work-dir', work_dir]
    state_file = osp.join(work_dir, 'state.json')
    # Kill the first run once the first row's training is recorded.
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if osp.exists(state_file):
            with open(state_file) as f:
                if 'checkpoint' in json.load(f)['rows'].get('bilinear', {}):
                    break
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    with open(state_file) as f:
        first = json.load(f)['rows']['bilinear']['checkpoint']
    mtime = os.path.getmtime(first)
    output = run_tool(*cmd[1:])
    assert 'bilinear: trained, checkpoint' in output  # not retrained
    assert os.path.getmtime(first) == mtime
    # Progress in the terminal (here a pipe: plain lines), the tools' output
    # in the logs, without the progress reports or the upstream warnings.
    assert '] sapa-b: train: 4/4 (100%)' in output
    assert '] sapa-b: test: 4/4 (100%)' in output
    train_log = open(osp.join(work_dir, 'sapa-b', 'train.log')).read()
    assert 'Iter(train) [4/4]' in train_log
    assert '@sapa-mm-progress' not in train_log + output
    assert 'avg_non_ignore' not in train_log + output
    with open(osp.join(work_dir, 'results.json')) as f:
        results = json.load(f)
    assert [r['row'] for r in results['rows']] == ['bilinear', 'sapa-b']
    for row in results['rows']:
        assert row['measured']['metrics']['mIoU'] is not None
    markdown = open(osp.join(work_dir, 'results.md')).read()
    assert '| SAPA-B | 43.20 |' in markdown and '| +0.10 |' in markdown
    assert 'no evidence' in markdown


def test_reproduce_tables_name_existing_configs():
    """Every row of every table (the seed's nearest/bilinear, CARAFE,
    IndexNet, A2U and SAPA rows) has its config and the paper's cells."""
    from sapa_mm.reproduce import TABLES
    for name, spec in TABLES.items():
        rows = list(spec['rows'])
        assert rows[1:] == ['carafe', 'indexnet', 'a2u', 'sapa-i', 'sapa-b',
                            'sapa-g'], name
        for row, (label, metrics, flops, params) in spec['rows'].items():
            path = osp.join(ROOT, spec['config'].format(row))
            assert osp.exists(path), path
            assert len(metrics) == len(spec['metrics']) and params
            assert (flops is None) == (name == 'faster-rcnn-coco')


def test_dist_train_two_processes_gloo(tmp_path, mini_data):
    work_dir = str(tmp_path / 'dist')
    env = dict(os.environ, PYTHON=sys.executable, PORT='29533')
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', SEGFORMER.format('sapa-i'), '2',
         '--work-dir', work_dir, '--data-root', mini_data['ade20k'],
         '--mini', '2'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "backend='gloo'" in log or "'backend': 'gloo'" in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'terminate called' not in log
    assert 'broadcast_buffers' not in log  # torch 2.13's deprecation
    assert osp.exists(osp.join(work_dir, 'iter_2.pth'))


def test_mini_datasets_are_deterministic(tmp_path, mini_data):
    again = make_ade20k(str(tmp_path), num_train=8, num_val=4)
    for sub in ('images/training', 'annotations/validation'):
        names = sorted(os.listdir(osp.join(again, sub)))
        assert names == sorted(os.listdir(osp.join(mini_data['ade20k'],
                                                   sub)))
        match, mismatch, errors = filecmp.cmpfiles(
            osp.join(again, sub), osp.join(mini_data['ade20k'], sub), names,
            shallow=False)
        assert not mismatch and not errors


def test_mini_datasets_load_with_upstream_classes(mini_data):
    import numpy as np
    from mmdet.datasets import CocoDataset
    from mmengine.registry import init_default_scope
    from mmseg.datasets import ADE20KDataset
    init_default_scope('mmseg')
    ade = ADE20KDataset(
        data_root=mini_data['ade20k'],
        data_prefix=dict(img_path='images/training',
                         seg_map_path='annotations/training'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True)])
    sample = ade[0]
    labels = np.unique(sample['gt_seg_map'])
    assert len(ade) == 8 and len(labels) >= 2 and labels.max() < 150
    coco = CocoDataset(data_root=mini_data['coco'],
                       ann_file='annotations/instances_train2017.json',
                       data_prefix=dict(img='train2017/'), pipeline=[])
    assert len(coco) > 0
    assert all(len(coco[i]['instances']) > 0 for i in range(len(coco)))


def test_benchmark_writes_its_tables(tmp_path):
    """tools/benchmark.py end to end on one shape and two rows: the ratios
    are to bilinear, and the table, JSON and chart are written; the results
    say that PyTorch's huge-page allocation was on."""
    result = subprocess.run(
        [sys.executable, 'tools/benchmark.py', '--device', 'cpu', '--shapes',
         'odd', '--rows', 'bilinear', 'sapa-b', '--repeats', '1', '--warmup',
         '0', '--threads', '1', '--out-dir', str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, THP_MEM_ALLOC_ENABLE='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / 'benchmark.json').read_text())
    assert data['env']['threads'] == 1 and data['env']['huge_pages']
    rows = {r['row']: r for r in data['op_level']}
    assert set(rows) == {'bilinear', 'sapa-b'}
    assert rows['bilinear']['forward_backward_ratio'] == 1.0
    for r in rows.values():
        assert r['forward_ms'] > 0 and r['forward_backward_ms'] > 0
        assert r['rss_memory_mb'] > 0
    # Bilinear's tensors at its peak: the output and x's gradient, float32.
    assert rows['bilinear']['peak_memory_mb'] * 2**20 == 4 * 2 * 256 * (
        171 * 128 + 86 * 64)
    assert rows['sapa-b']['peak_memory_ratio'] > 1
    table = (tmp_path / 'benchmark.md').read_text()
    assert '| odd 86x64->171x128 | sapa-b |' in table
    assert 'huge pages (THP_MEM_ALLOC_ENABLE=1)' in table
    assert (tmp_path / 'benchmark.png').stat().st_size > 0
