"""configs/bts, the data side: the pixels without depth that the training
pipeline adds (RandomRotate's corners, the data preprocessor's padding to
the crop) are 0, which the loss and DepthMetric ignore (mmseg's default 255
would be a valid 255 m depth in the loss: the first test fails if 255
padding or fill gets through), and the config's metric (BTS's evaluation)
on a known pair."""
import copy
import math

import pytest
import torch

pytest.importorskip('mmseg')
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmseg.registry import METRICS  # noqa: E402

from sapa_mm.analysis.complexity import build_model  # noqa: E402
from sapa_mm.tables import get_table  # noqa: E402


@pytest.fixture(scope='module')
def config():
    return Config.fromfile(get_table('bts-nyu').config_path('nearest'))


def train_batch(config, mini_nyu, model):
    """Two mini training images through the config's pipeline, rotated
    by 20 degrees (corners without depth for sure), then padded by the
    model's data preprocessor to the 416x544 crop."""
    init_default_scope('mmseg')
    pipeline = copy.deepcopy(config.train_pipeline)
    for transform in pipeline:
        if transform['type'] == 'RandomRotate':
            transform['degree'] = (20, 20)
        if transform['type'] == 'RandomFlip':
            transform['prob'] = 0.0
    dataset_cfg = copy.deepcopy(config.train_dataloader.dataset)
    dataset_cfg.update(data_root=mini_nyu, pipeline=pipeline)
    from mmseg.registry import DATASETS
    dataset = DATASETS.build(dataset_cfg)
    samples = [dataset[i] for i in range(2)]
    data = dict(inputs=[s['inputs'] for s in samples],
                data_samples=[s['data_samples'] for s in samples])
    return model.data_preprocessor(data, True)


def test_fill_and_padding_are_invalid_depth(config, mini_nyu):
    model = build_model(config)
    data = train_batch(config, mini_nyu, model)
    gt = torch.stack([s.gt_depth_map.data for s in data['data_samples']])
    h, w = data['data_samples'][0].metainfo['img_shape']
    assert gt.shape[-2:] == (416, 544) and (h, w) < (416, 544)
    # The rotation's corners and the padding hold no depth: 0, not 255.
    assert gt[..., :h, :w].eq(0).any() and gt[..., h:, :].eq(0).all()
    assert gt.max() < 10
    # So the loss of a prediction is that of its valid pixels alone: a
    # wild prediction on the padded and filled pixels changes nothing.
    head = model.decode_head
    pred = torch.full_like(gt, 2.0)
    wild = torch.where(gt > 0, pred, torch.full_like(pred, 9.0))
    samples = data['data_samples']
    torch.testing.assert_close(head.loss_by_feat(wild, samples),
                               head.loss_by_feat(pred, samples))


def test_depth_metric_ignores_zero_depth(config):
    """The config's metric (BTS's: 1e-3 < gt < 10 m in the Eigen crop) on a
    ground truth with a filled corner inside the crop does not depend on
    what is predicted there."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    gt = torch.rand(480, 640) * 8 + 1
    gt[:120, :160] = 0  # a rotated-in corner, inside the Eigen crop
    pred = gt.clamp_min(1) * (1 + 0.2 * torch.rand(480, 640))
    wild = pred.clone()
    wild[:120, :160] = 9.0

    def metrics(pred):
        metric = METRICS.build(config.test_evaluator)
        metric.process({}, [dict(pred_depth_map=dict(data=pred[None]),
                                 gt_depth_map=dict(data=gt[None]))])
        return metric.compute_metrics(metric.results)

    assert metrics(wild) == pytest.approx(metrics(pred))
    assert metrics(pred) != pytest.approx(metrics(pred * 1.1))


def test_depth_metric_on_a_known_pair(config):
    """The config's metric on a 480x640 pair whose Eigen crop has a 2 m
    ground truth, predicted 2.5 m in its top half and 2 m in the rest
    (outside the crop: anything)."""
    init_default_scope('mmseg')
    gt = torch.full((480, 640), 2.0)
    pred = torch.full((480, 640), 7.0)  # outside the crop [45:471, 41:601]
    pred[45:258, 41:601] = 2.5  # 213 of the crop's 426 rows
    pred[258:471, 41:601] = 2.0
    metric = METRICS.build(config.test_evaluator)
    metric.process({}, [dict(pred_depth_map=dict(data=pred[None]),
                             gt_depth_map=dict(data=gt[None]))])
    result = metric.compute_metrics(metric.results)
    log125 = math.log(1.25)
    expected = dict(d1=0.5, d2=1.0, d3=1.0, abs_rel=0.5 * 0.25,
                    sq_rel=0.5 * 0.25 / 2, rmse=math.sqrt(0.5 * 0.25),
                    rmse_log=math.sqrt(0.5) * log125,
                    log10=0.5 * math.log10(1.25))
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, rel=1e-5), key
