"""tools/reproduce.py bts-nyu end to end on a tiny mini NYU Depth V2: the
baseline and SAPA-B train one iteration and test; the results have the
eight depth columns beside the paper's and the Params beside the paper's."""
import json
import os.path as osp

import pytest

pytest.importorskip('mmseg')
pytest.importorskip('mmdet')


def test_reproduce_bts_nyu_two_rows(tmp_path, run_tool):
    from sapa_mm.datasets import make_nyu
    data_root = make_nyu(str(tmp_path / 'data'), num_train=2, num_val=2,
                         size=(96, 128))
    work_dir = str(tmp_path / 'reproduce')
    output = run_tool('tools/reproduce.py', 'bts-nyu', '--rows', 'nearest',
                      'sapa-b', '--mini', '1', '--params-only',
                      '--data-root', data_root, '--work-dir', work_dir)
    assert 'bts-nyu: rows nearest, sapa-b; seeds 1\n' in output
    assert '] sapa-b (seed 1): test: 2/2 (100%)' in output
    with open(osp.join(work_dir, 'results.json')) as f:
        results = json.load(f)
    assert [r['row'] for r in results['rows']] == ['nearest', 'sapa-b']
    columns = ['δ<1.25', 'δ<1.25²', 'δ<1.25³', 'AbsRel', 'SqRel', 'RMS',
               'RMSlog', 'log10']
    for row in results['rows']:
        measured = row['measured']['per_seed']['1']
        assert list(measured) == columns
        assert all(v is not None and v >= 0 for v in measured.values())
        assert 0 <= measured['δ<1.25'] <= measured['δ<1.25³'] <= 1
    markdown = open(osp.join(work_dir, 'results.md')).read()
    # The paper's baseline (all of BTS's parameters) beside the trainable
    # ones measured; SAPA-B's delta equals the paper's.
    assert '| 49.53 | 47.42 |' in markdown
    assert '| +0.16 | +0.16 |' in markdown
    assert '| Nearest | 0.865 |' in markdown
