"""sapa_mm.tables.reproduction without running the tools: the seeds, the
per-seed state and the mean +- std of the results."""
import json
import os.path as osp
import statistics

import pytest

pytest.importorskip('mmengine')
from sapa_mm.tables.reproduction import Reproduction, mean_std, parse_seeds


def test_parse_seeds():
    assert parse_seeds('3') == [1, 2, 3]
    assert parse_seeds('1') == [1]
    assert parse_seeds('5,') == [5]
    assert parse_seeds('0,7,2') == [0, 7, 2]
    for bad in ('0', '', 'a', '1,1', '-1,', '2.5'):
        with pytest.raises(ValueError, match='seeds must be'):
            parse_seeds(bad)


def test_mean_std():
    assert mean_std([2.0]) == (2.0, 0.0)
    values = [68.4, 59.3, 70.4]
    assert mean_std(values) == (statistics.mean(values),
                                statistics.stdev(values))


def test_unknown_rows_and_empty_seeds(tmp_path):
    with pytest.raises(ValueError, match="unknown row 'nope'"):
        Reproduction('segformer-ade20k', str(tmp_path), rows=['nope'])
    with pytest.raises(ValueError, match='at least one seed'):
        Reproduction('segformer-ade20k', str(tmp_path), seeds=[])
    with pytest.raises(ValueError, match='unknown table'):
        Reproduction('nope', str(tmp_path))


def test_results_are_mean_and_std_over_the_seeds(tmp_path):
    run = Reproduction('faster-rcnn-coco', str(tmp_path),
                       rows=['nearest', 'sapa-b'], seeds=[1, 2, 3], mini=4)
    ap = {'nearest': [0.30, 0.32, 0.31], 'sapa-b': [0.33, 0.35, 0.40]}
    for row, values in ap.items():
        for seed, value in zip(run.seeds, values):
            run._seed_state(row, seed)['metrics'] = {
                'coco/bbox_mAP': value, 'coco/bbox_mAP_50': 0.5,
                'coco/bbox_mAP_75': 0.4, 'coco/bbox_mAP_s': 0.1,
                'coco/bbox_mAP_m': 0.2, 'coco/bbox_mAP_l': 0.3}
        run._row_state(row)['params_only'] = dict(
            params=41_530_000 if row == 'nearest' else 41_580_000,
            flops=None)
    markdown = run.write_results()
    mean, std = mean_std([100 * v for v in ap['sapa-b']])
    assert f'| SAPA-B | 37.8 | {mean:.1f} ± {std:.1f} |' in markdown
    assert '| 41.53 | 41.53 |' in markdown and '| +0.05 | +0.05 |' in markdown
    assert 'mean ± standard deviation over seeds 1, 2, 3' in markdown
    assert 'no evidence' in markdown
    with open(osp.join(str(tmp_path), 'results.json')) as f:
        results = json.load(f)
    assert results['seeds'] == [1, 2, 3]
    sapa_b = results['rows'][1]['measured']
    assert [sapa_b['per_seed'][s]['AP'] for s in ('1', '2', '3')] == \
        pytest.approx([100 * v for v in ap['sapa-b']])
    assert sapa_b['metrics']['AP'] == pytest.approx(
        dict(mean=mean, std=std, n=3))
    # A seed not tested yet leaves its cell out of the summary.
    del run._seed_state('sapa-b', 3)['metrics']
    assert run._summary([1.0, None]) == dict(mean=1.0, std=0.0, n=1)


def test_each_seed_has_its_own_work_dir_and_seed_option(tmp_path):
    run = Reproduction('segformer-ade20k', str(tmp_path), seeds=[4, 9],
                       cfg_options=['a=1'], mini=2)
    assert run.seed_dir('sapa-b', 9) == osp.join(str(tmp_path), 'sapa-b',
                                                 'seed-9')
    args = run._tool_args(9)
    assert args[args.index('--cfg-options') + 1:] == ['a=1',
                                                      'randomness.seed=9']
    assert args[args.index('--mini') + 1] == '2'
