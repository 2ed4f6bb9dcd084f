"""sapa_mm.datasets.transforms.photometric_jitter: BTS's gamma, brightness and
colour jitter stays in its ranges and leaves depth alone."""
import numpy as np
import pytest

pytest.importorskip('mmseg')
from mmseg.registry import TRANSFORMS  # noqa: E402

import sapa_mm  # noqa: E402,F401  (registers the transform)


def sample():
    rng = np.random.RandomState(0)
    return dict(img=rng.randint(1, 255, (6, 7, 3)).astype(np.uint8),
                gt_depth_map=rng.rand(6, 7).astype(np.float32))


def test_jitter_within_bts_ranges():
    jitter = TRANSFORMS.build(dict(type='BTSPhotometricJitter', prob=1.0))
    np.random.seed(1)
    data = sample()
    img = data['img'].astype(np.float64) / 255
    depth = data['gt_depth_map'].copy()
    out = jitter(data)
    assert out['img'].dtype == np.float32
    np.testing.assert_array_equal(out['gt_depth_map'], depth)
    jittered = out['img'].astype(np.float64) / 255
    # bounds of img ** gamma * brightness * colour, clipped to [0, 1]
    low = np.minimum(img ** 0.9, img ** 1.1) * 0.75 * 0.9
    high = np.minimum(np.maximum(img ** 0.9, img ** 1.1) * 1.25 * 1.1, 1)
    assert (jittered >= low - 1e-6).all() and (jittered <= high + 1e-6).all()
    assert not np.allclose(jittered, img)


def test_jitter_probability_and_errors():
    jitter = TRANSFORMS.build(dict(type='BTSPhotometricJitter', prob=0.0))
    data = sample()
    img = data['img'].copy()
    np.testing.assert_array_equal(jitter(data)['img'], img)
    with pytest.raises(ValueError, match='prob'):
        TRANSFORMS.build(dict(type='BTSPhotometricJitter', prob=2))
    with pytest.raises(ValueError, match='gamma must be a range'):
        TRANSFORMS.build(dict(type='BTSPhotometricJitter', gamma=(1.2, 1.1)))
