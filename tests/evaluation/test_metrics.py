"""The mmengine matting metrics: built from mmseg's registry, they average
the functions over the images."""
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')
from mmseg.registry import METRICS

import sapa_mm  # noqa: F401  (registers the metrics)
from sapa_mm.evaluation import (
    connectivity_error,
    gradient_error,
    mse,
    sad,
)


def sample(seed):
    rng = np.random.RandomState(seed)
    gt = rng.rand(12, 10)
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), (12, 10))
    pred = rng.rand(12, 10).astype(np.float32)
    return dict(pred_alpha=torch.from_numpy(pred),
                gt_alpha=torch.from_numpy(gt)[None], trimap=trimap), (
                    pred, gt, trimap)


@pytest.mark.parametrize('name, function', [
    ('SAD', sad), ('MattingMSE', mse), ('GradientError', gradient_error),
    ('ConnectivityError', connectivity_error)])
def test_metric_averages_the_function(name, function):
    metric = METRICS.build(dict(type=name))
    samples = [sample(seed) for seed in range(3)]
    metric.process({}, [s for s, _ in samples])
    expected = np.mean([function(*arrays) for _, arrays in samples])
    result = metric.evaluate(3)
    assert list(result) == [name]
    assert result[name] == pytest.approx(expected)
    assert expected > 0


def test_metric_names_the_missing_keys():
    metric = METRICS.build(dict(type='SAD'))
    with pytest.raises(KeyError, match="'trimap'"):
        metric.process({}, [dict(pred_alpha=np.zeros((2, 2)))])
