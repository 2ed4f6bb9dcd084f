"""The matting metrics of Composition-1K as functions of one image:
``sad``, ``mse``, ``gradient_error`` and ``connectivity_error``, each
``(pred, gt, trimap)``, with mmagic 1.2.0's definitions (through mmeval).

Inputs: ``pred`` and ``gt`` float alpha mattes (H, W) in [0, 1], ``trimap``
a uint8 (H, W) map of {0, 128, 255} (background, unknown, foreground).
As mmagic's evaluation requires, the prediction is first masked by the
trimap (0 where it is 0, 1 where it is 255); each function does that
itself, so raw predictions can be passed. The values are in the units
the matting papers print: SAD, Grad and Conn divided by 1000, MSE per
unknown pixel.
"""
from typing import Tuple

import cv2
import numpy as np

#: The trimap's values: background, unknown, foreground.
TRIMAP_VALUES = (0, 128, 255)
#: mmagic's normalisation of SAD, Grad and Conn.
NORM_CONST = 1000


def check_matting_inputs(pred, gt, trimap,
                         op: str = 'matting metric') -> Tuple[np.ndarray,
                                                              np.ndarray,
                                                              np.ndarray]:
    """Validates and converts the inputs: float64 mattes and a uint8 trimap.

    Raises:
        TypeError: an input is not array-like, or the trimap is not of an
            integer dtype.
        ValueError: an input is not 2-D, the shapes differ, a matte has
            values outside [0, 1] (or NaN), or the trimap values outside
            {0, 128, 255}.
    """
    arrays = []
    for name, value in (('pred', pred), ('gt', gt), ('trimap', trimap)):
        try:
            array = np.asarray(value)
        except Exception as error:  # e.g. a CUDA tensor
            raise TypeError(f'{op}: {name} must be a numpy array (or '
                            f'array-like), got {type(value).__name__}: '
                            f'{error}') from error
        if array.ndim != 2:
            raise ValueError(f'{op}: {name} must be 2-D (H, W), got '
                             f'{name}.shape={array.shape}')
        arrays.append(array)
    pred, gt, trimap = arrays
    if not (pred.shape == gt.shape == trimap.shape):
        raise ValueError(f'{op}: pred, gt and trimap must have the same size, '
                         f'got pred.shape={pred.shape}, gt.shape={gt.shape}, '
                         f'trimap.shape={trimap.shape}')
    for name, array in (('pred', pred), ('gt', gt)):
        if array.dtype.kind not in 'fiub':
            raise TypeError(f'{op}: {name} must hold numbers, got '
                            f'{name}.dtype={array.dtype}')
        if array.size and not (np.all(array >= 0) and np.all(array <= 1)):
            raise ValueError(
                f'{op}: {name} must be an alpha matte in [0, 1], got values '
                f'in [{np.nanmin(array)}, {np.nanmax(array)}] (NaN: '
                f'{bool(np.isnan(array).any())}); divide 8-bit mattes by 255')
    if trimap.dtype.kind not in 'iu':
        raise TypeError(f'{op}: trimap must be an integer map of '
                        f'{TRIMAP_VALUES}, got trimap.dtype={trimap.dtype}')
    bad = ~np.isin(trimap, TRIMAP_VALUES)
    if bad.any():
        raise ValueError(f'{op}: trimap values must be in {TRIMAP_VALUES}, '
                         f'got {sorted(np.unique(trimap[bad]).tolist())[:5]}')
    return (pred.astype(np.float64), gt.astype(np.float64),
            trimap.astype(np.uint8))


def mask_by_trimap(pred: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """``pred`` with the trimap's known pixels: 0 where the trimap is 0, 1
    where it is 255 (what mmagic's metrics require of a prediction)."""
    pred = pred.copy()
    pred[trimap == 0] = 0
    pred[trimap == 255] = 1
    return pred


def _prepare(pred, gt, trimap, op: str):
    pred, gt, trimap = check_matting_inputs(pred, gt, trimap, op)
    return mask_by_trimap(pred, trimap), gt, trimap


def sad(pred, gt, trimap) -> float:
    """Sum of absolute differences over the image, / 1000."""
    pred, gt, _ = _prepare(pred, gt, trimap, 'sad')
    return float(np.abs(pred - gt).sum() / NORM_CONST)


def mse(pred, gt, trimap) -> float:
    """Sum of squared differences over the image divided by the number of
    unknown pixels (0 without unknown pixels), as mmagic's MattingMSE."""
    pred, gt, trimap = _prepare(pred, gt, trimap, 'mse')
    unknown = int((trimap == 128).sum())
    if unknown == 0:
        return 0.0
    return float(((pred - gt)**2).sum() / unknown)


def gauss_filters(sigma: float,
                  epsilon: float = 1e-2) -> Tuple[np.ndarray, np.ndarray]:
    """The x and y filters of the MATLAB ``gaussgradient``: a Gaussian along
    one axis times its derivative along the other, on a square support of
    half size ceil(sigma * sqrt(-2 log(sqrt(2 pi) sigma epsilon))),
    normalised to unit L2 norm."""
    half = np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma *
                                              epsilon)))
    t = np.arange(-half, half + 1)
    gauss = np.exp(-t**2 / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    dgauss = -t * gauss / sigma**2
    filter_x = gauss[:, None] * dgauss[None, :]
    filter_x = filter_x / np.sqrt((filter_x**2).sum())
    return filter_x, filter_x.T.copy()


def gauss_gradient(image: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    """Gradient magnitude of ``image`` under :func:`gauss_filters`
    (correlation, replicated border)."""
    filter_x, filter_y = gauss_filters(sigma)
    gx = cv2.filter2D(image, -1, filter_x, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(image, -1, filter_y, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx**2 + gy**2)


def _min_max(matte: np.ndarray) -> np.ndarray:
    """OpenCV's NORM_MINMAX to [0, 1]: a constant matte becomes 0."""
    low, high = matte.min(), matte.max()
    if high - low > np.finfo(np.float64).eps:
        return (matte - low) / (high - low)
    return np.zeros_like(matte)


def gradient_error(pred, gt, trimap, sigma: float = 1.4) -> float:
    """Both mattes min-max normalised, their Gaussian gradient magnitudes
    (sigma 1.4), the squared difference summed over the unknown region,
    / 1000."""
    pred, gt, trimap = _prepare(pred, gt, trimap, 'gradient_error')
    if pred.size == 0:
        return 0.0
    difference = gauss_gradient(_min_max(gt), sigma) - gauss_gradient(
        _min_max(pred), sigma)
    return float((difference**2 * (trimap == 128)).sum() / NORM_CONST)


def connectivity_error(pred, gt, trimap, step: float = 0.1) -> float:
    """For thresholds t = step, 2 step, ..., 1: the largest 4-connected
    component of (gt >= t) & (pred >= t); each pixel's l is the last
    threshold below the first t where it leaves that component (1 if it
    never does); phi = 1 - d [d >= 0.15] with d = alpha - l; the absolute
    difference of the two phis summed over the unknown region, / 1000."""
    pred, gt, trimap = _prepare(pred, gt, trimap, 'connectivity_error')
    if pred.size == 0:
        return 0.0
    thresholds = np.arange(0, 1 + step, step)
    round_down = -np.ones_like(gt)
    for i in range(1, len(thresholds)):
        both = ((gt >= thresholds[i]) & (pred >= thresholds[i])).astype(
            np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(
            both, connectivity=4)
        largest = np.zeros(gt.shape, dtype=bool)
        sizes = stats[1:, cv2.CC_STAT_AREA]  # label 0 is the background
        if len(sizes):
            largest = labels == np.argmax(sizes) + 1
        round_down[(round_down == -1) & ~largest] = thresholds[i - 1]
    round_down[round_down == -1] = 1
    gt_d, pred_d = gt - round_down, pred - round_down
    gt_phi = 1 - gt_d * (gt_d >= 0.15)
    pred_phi = 1 - pred_d * (pred_d >= 0.15)
    return float((np.abs(gt_phi - pred_phi) * (trimap == 128)).sum() /
                 NORM_CONST)
