"""The matting metrics against hand computations on small mattes."""
import numpy as np
import pytest

from sapa_mm.evaluation import (
    connectivity_error,
    gradient_error,
    mask_by_trimap,
    mse,
    sad,
)
from sapa_mm.evaluation.functional import gauss_filters


def rows_trimap(n=4):
    """Top row background, bottom row foreground, the rest unknown."""
    trimap = np.full((n, n), 128, np.uint8)
    trimap[0], trimap[-1] = 0, 255
    return trimap


def test_sad_and_mse_by_hand():
    trimap = rows_trimap()
    gt = np.full((4, 4), 0.25)
    gt[0], gt[-1] = 0, 1
    pred = np.full((4, 4), 0.75)  # masked: 0 on top, 1 at the bottom
    # 8 unknown pixels, each off by 0.5.
    assert sad(pred, gt, trimap) == pytest.approx(8 * 0.5 / 1000)
    assert mse(pred, gt, trimap) == pytest.approx(8 * 0.25 / 8)
    assert sad(gt, gt, trimap) == 0 and mse(gt, gt, trimap) == 0
    np.testing.assert_array_equal(mask_by_trimap(pred, trimap)[[0, -1]],
                                  gt[[0, -1]])


def test_mse_without_unknown_pixels_is_zero():
    trimap = np.zeros((3, 3), np.uint8)
    assert mse(np.zeros((3, 3)), np.zeros((3, 3)), trimap) == 0


def test_gauss_filters_match_the_matlab_support():
    # sigma 1.4, epsilon 1e-2: half size ceil(3.62) = 4.
    fx, fy = gauss_filters(1.4)
    assert fx.shape == (9, 9)
    assert np.sum(fx**2) == pytest.approx(1)
    np.testing.assert_allclose(fy, fx.T)
    np.testing.assert_allclose(fx[:, 4], 0, atol=1e-15)  # odd in x


def test_gradient_error_of_a_step_edge_by_hand():
    n, sigma = 16, 1.4
    gt = np.zeros((n, n))
    gt[:, n // 2:] = 1
    trimap = np.full((n, n), 128, np.uint8)
    pred = np.zeros((n, n))  # constant: min-max normalised to 0, no gradient
    # The step is constant along columns, so the y gradient vanishes and the
    # x gradient is sum(gauss) * (dgauss correlated with the replicated
    # step) / the filter's norm.
    half = 4
    t = np.arange(-half, half + 1)
    gauss = np.exp(-t**2 / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    dgauss = -t * gauss / sigma**2
    norm = np.sqrt(np.sum(np.outer(gauss, dgauss)**2))
    step = gt[0]
    gx = np.array([
        sum(dgauss[b] * step[min(max(j + b - half, 0), n - 1)]
            for b in range(2 * half + 1)) for j in range(n)
    ]) * gauss.sum() / norm
    expected = n * np.sum(gx**2) / 1000
    assert gradient_error(pred, gt, trimap) == pytest.approx(expected)
    assert gradient_error(gt, gt, trimap) == 0
    # Only the unknown region counts: no unknown pixel, no error.
    known = np.where(gt > 0, 255, 0).astype(np.uint8)
    assert gradient_error(pred, gt, known) == 0


def two_blobs(big_pred, small_pred):
    """A 3-pixel and a 1-pixel blob of alpha 1, apart (not 4-connected)."""
    gt = np.zeros((5, 5))
    gt[1, 0:3] = 1  # big
    gt[3, 4] = 1  # small
    pred = gt.copy()
    pred[1, 0:3] = big_pred
    pred[3, 4] = small_pred
    return pred, gt, np.full((5, 5), 128, np.uint8)


def test_connectivity_error_of_two_components_by_hand():
    # pred == gt: no error.
    assert connectivity_error(*two_blobs(1, 1)) == 0
    # The small blob is never in the largest component: l = 0 there, so
    # phi_gt = 1 - 1 = 0 and phi_pred = 1 - 0.3: 0.7.
    assert connectivity_error(*two_blobs(1, 0.3)) == pytest.approx(0.7 / 1000)
    # The big blob leaves at t = 0.4 (l = 0.3, pred's d = 0.05 < 0.15: phi
    # 1, gt's d = 0.7: phi 0.3); the small one is then the largest and
    # stays (l = 1, phi 1 in both).
    assert connectivity_error(*two_blobs(0.35, 1)) == pytest.approx(
        3 * 0.7 / 1000)
    # The thresholds are mmagic's np.arange(0, 1.1, 0.1), whose 0.3 is
    # 0.30000000000000004: a blob at exactly 0.3 leaves there (l = 0.2,
    # gt's phi 0.2, pred's d = 0.1: phi 1).
    assert connectivity_error(*two_blobs(0.3, 1)) == pytest.approx(
        3 * 0.8 / 1000)


def test_connectivity_is_4_connected():
    # A diagonal neighbour is a separate component: as the apart blob.
    pred, gt, trimap = two_blobs(1, 0.3)
    pred[3, 4] = gt[3, 4] = 0
    pred[2, 3], gt[2, 3] = 0.3, 1  # diagonal to (1, 2)
    assert connectivity_error(pred, gt, trimap) == pytest.approx(0.7 / 1000)


@pytest.mark.parametrize('metric',
                         [sad, mse, gradient_error, connectivity_error])
def test_bad_input(metric):
    alpha = np.zeros((4, 4))
    trimap = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match=r'trimap values must be in'):
        metric(alpha, alpha, np.full((4, 4), 100, np.uint8))
    with pytest.raises(ValueError, match=r'pred must be an alpha matte'):
        metric(alpha + 1.5, alpha, trimap)
    with pytest.raises(ValueError, match=r'gt must be an alpha matte'):
        metric(alpha, alpha - 0.1, trimap)
    with pytest.raises(ValueError, match=r'same size.*gt.shape=\(4, 5\)'):
        metric(alpha, np.zeros((4, 5)), trimap)
    with pytest.raises(ValueError, match=r'2-D'):
        metric(alpha[None], alpha, trimap)
    with pytest.raises(TypeError, match=r'trimap must be an integer'):
        metric(alpha, alpha, trimap.astype(float))
