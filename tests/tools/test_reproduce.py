"""tools/reproduce.py end to end on the mini ADE20K: two rows of a table
with the default seed, killed mid-way and rerun; the rerun keeps what was
done, and the terminal, logs and results show what the tools did."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip('mmseg')
pytest.importorskip('mmdet')


def test_reproduce_two_rows_with_kill_and_rerun(tmp_path, mini_data,
                                                run_tool, repo_root):
    work_dir = str(tmp_path / 'reproduce')
    cmd = [sys.executable, 'tools/reproduce.py', 'segformer-ade20k',
           '--rows', 'bilinear', 'sapa-b', '--mini', '4', '--params-only',
           '--data-root', mini_data['ade20k'], '--work-dir', work_dir]
    state_file = osp.join(work_dir, 'state.json')

    def first_checkpoint(state):
        """The checkpoint of the first row's run with seed 1, if any."""
        runs = state['rows'].get('bilinear', {}).get('seeds', {})
        return runs.get('1', {}).get('checkpoint')

    # Kill the first run once the first row's training is recorded.
    process = subprocess.Popen(cmd, cwd=repo_root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        if osp.exists(state_file):
            with open(state_file) as f:
                if first_checkpoint(json.load(f)):
                    break
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    with open(state_file) as f:
        first = first_checkpoint(json.load(f))
    # Each row's run with a seed has its own directory.
    assert first.startswith(osp.join(work_dir, 'bilinear', 'seed-1') + os.sep)
    mtime = os.path.getmtime(first)
    output = run_tool(*cmd[1:])
    # No seeds named: the default, seed 1, for every row.
    assert 'segformer-ade20k: rows bilinear, sapa-b; seeds 1\n' in output
    assert 'bilinear (seed 1): trained, checkpoint' in output  # not retrained
    assert os.path.getmtime(first) == mtime
    # Progress in the terminal (here a pipe: plain lines), the tools' output
    # in the logs, without the progress reports or the upstream warnings.
    assert '] sapa-b (seed 1): train: 4/4 (100%)' in output
    assert '] sapa-b (seed 1): test: 4/4 (100%)' in output
    train_log = open(osp.join(work_dir, 'sapa-b', 'seed-1',
                              'train.log')).read()
    assert 'Iter(train) [4/4]' in train_log
    assert '@sapa-mm-progress' not in train_log + output
    assert 'avg_non_ignore' not in train_log + output
    with open(osp.join(work_dir, 'results.json')) as f:
        results = json.load(f)
    assert results['seeds'] == [1]
    assert [r['row'] for r in results['rows']] == ['bilinear', 'sapa-b']
    for row in results['rows']:
        miou = row['measured']['per_seed']['1']['mIoU']
        assert miou is not None
        assert row['measured']['metrics']['mIoU'] == dict(mean=miou, std=0.0,
                                                          n=1)
    markdown = open(osp.join(work_dir, 'results.md')).read()
    # One seed: the measured cell is the plain value, without a spread.
    sapa_b = results['rows'][1]['measured']['metrics']['mIoU']['mean']
    assert f'| SAPA-B | 43.20 | {sapa_b:.2f} |' in markdown
    assert '±' not in markdown
    assert '| +0.10 |' in markdown
    assert 'no evidence' in markdown
