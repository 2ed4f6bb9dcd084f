"""tools/analysis/plot_seeds.py: the per-seed spread of a results.json."""
import json
import os.path as osp
import runpy
import subprocess
import sys

import pytest

pytest.importorskip('matplotlib')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
plot_seed_spread = runpy.run_path(
    osp.join(ROOT, 'tools', 'analysis', 'plot_seeds.py'))['plot_seed_spread']


def results(per_seed):
    rows = []
    for label, values in per_seed.items():
        summary = None
        if values:
            mean = sum(values) / len(values)
            summary = dict(mean=mean, std=0.5, n=len(values))
        rows.append(dict(
            row=label.lower(), label=label,
            paper=dict(metrics=dict(mIoU=41.0)),
            measured=dict(metrics=dict(mIoU=summary),
                          per_seed={str(s): dict(mIoU=v)
                                    for s, v in enumerate(values, 1)})))
    return dict(table='segformer-ade20k', mini=4, seeds=[1, 2, 3],
                rows=rows)


def test_draws_every_row(tmp_path):
    out = str(tmp_path / 'spread.png')
    plot_seed_spread(results({'Bilinear': [68.4, 59.3, 70.4],
                              'SAPA-B': [72.0, 71.0, 72.2],
                              'CARAFE': []}), out)
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_no_tested_seed_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='no tested seeds'):
        plot_seed_spread(results({'Bilinear': []}),
                         str(tmp_path / 'x.png'))


def test_command_line(tmp_path):
    path = tmp_path / 'results.json'
    path.write_text(json.dumps(results({'Bilinear': [1.0, 2.0]})))
    out = tmp_path / 'spread.png'
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'analysis',
                                             'plot_seeds.py'), str(path),
                    str(out)], check=True, capture_output=True)
    assert out.exists()
