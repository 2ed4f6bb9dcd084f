"""mmengine metrics of Composition-1K on top of :mod:`.functional`: ``SAD``,
``MattingMSE``, ``GradientError`` and ``ConnectivityError`` (mmagic's names
and keys), registered in mmseg's ``METRICS``, the scope of the matting
configs.

Each reads, per data sample the model predicts, ``pred_alpha`` (H, W) in
[0, 1], ``gt_alpha`` (H, W) in [0, 1] and ``trimap`` (H, W) in {0, 128,
255}, at the image's original size, and averages its metric over the
images.
"""
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS

from .functional import connectivity_error, gradient_error, mse, sad


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.ndim == 3 and value.shape[0] == 1:  # (1, H, W) maps
        value = value[0]
    return value


class MattingMetric(BaseMetric):
    """A per-image matting metric averaged over the images.

    Args:
        collect_device, prefix: as in mmengine's ``BaseMetric``.
    """

    #: The key in the results (mmagic's).
    metric: str = ''
    #: The function of (pred, gt, trimap).
    function: Callable = staticmethod(sad)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key in ('pred_alpha', 'gt_alpha', 'trimap'):
                if key not in sample:
                    raise KeyError(
                        f'{type(self).__name__}: each data sample needs '
                        f"'pred_alpha', 'gt_alpha' and 'trimap'; got the "
                        f'keys {sorted(sample)}')
            self.results.append(type(self).function(
                _numpy(sample['pred_alpha']), _numpy(sample['gt_alpha']),
                _numpy(sample['trimap'])))

    def compute_metrics(self, results: List[float]) -> Dict[str, float]:
        return {self.metric: float(np.mean(results))}


@METRICS.register_module()
class SAD(MattingMetric):
    """Sum of absolute differences (/ 1000): :func:`.functional.sad`."""
    metric = 'SAD'
    function = staticmethod(sad)


@METRICS.register_module()
class MattingMSE(MattingMetric):
    """MSE over the unknown pixels: :func:`.functional.mse`."""
    metric = 'MattingMSE'
    function = staticmethod(mse)


@METRICS.register_module()
class GradientError(MattingMetric):
    """Gradient error (/ 1000): :func:`.functional.gradient_error`."""
    metric = 'GradientError'
    function = staticmethod(gradient_error)


@METRICS.register_module()
class ConnectivityError(MattingMetric):
    """Connectivity error (/ 1000): :func:`.functional.connectivity_error`."""
    metric = 'ConnectivityError'
    function = staticmethod(connectivity_error)
