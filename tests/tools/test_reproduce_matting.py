"""tools/reproduce.py on the mini Composition-1K: one row of the matting
table trained, tested and counted end to end on the CPU."""
import json
import os.path as osp

import pytest

pytest.importorskip('mmseg')


def test_reproduce_matting_row(tmp_path, mini_comp1k, run_tool):
    work_dir = str(tmp_path / 'reproduce')
    out = run_tool('tools/reproduce.py', 'a2u-matting-comp1k', '--rows',
                   'sapa-b', '--mini', '2', '--params-only', '--data-root',
                   mini_comp1k, '--work-dir', work_dir)
    assert '| SAPA-B | 31.19 |' in out
    with open(osp.join(work_dir, 'results.json')) as f:
        (row, ) = json.load(f)['rows']
    assert row['paper']['metrics'] == dict(SAD=31.19, MSE=0.0079,
                                           Grad=15.48, Conn=28.30)
    for name, summary in row['measured']['metrics'].items():
        assert summary['n'] == 1 and summary['mean'] >= 0, name
    # The mini model is trained from scratch for 2 iterations: its matte is
    # no good, but it is a matte: errors are finite and positive.
    assert row['measured']['metrics']['SAD']['mean'] > 0
    assert row['measured']['params'] == 8_049_003 + 35_072
