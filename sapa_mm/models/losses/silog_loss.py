"""BTS's scale-invariant log loss (mmseg registry).

mmseg's ``SiLogLoss`` differs from BTS's: lambda 0.5, no factor 10, and a
per-image mean. BTS's loss is one value over the valid pixels of the whole
batch: 10 * sqrt(mean(d^2) - 0.85 * mean(d)^2), d = log pred - log gt.
"""
from typing import Optional

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

#: Below this, a prediction is taken as this (its log stays finite, e.g.
#: where a half-precision sigmoid underflows to 0).
MIN_PREDICTION = 1e-6


def _check(pred: Tensor, target: Tensor) -> None:
    for name, t in (('pred', pred), ('target', target)):
        if not isinstance(t, Tensor):
            raise TypeError(f'bts_silog_loss: {name} must be a Tensor, got '
                            f'{type(t).__name__}')
        if not t.is_floating_point():
            raise TypeError(
                f'bts_silog_loss: {name} must be a floating-point depth map '
                f'in metres, got {name}.dtype={t.dtype} (rescale integer '
                f'maps, e.g. LoadDepthAnnotation(depth_rescale_factor=1e-3) '
                f'for millimetres)')
    if pred.shape != target.shape:
        raise ValueError(f'bts_silog_loss: pred and target must have one '
                         f'shape, got pred.shape={tuple(pred.shape)}, '
                         f'target.shape={tuple(target.shape)}')


def bts_silog_loss(pred: Tensor, target: Tensor,
                   variance_focus: float = 0.85, scale: float = 10.0,
                   min_depth: float = 0.1,
                   max_depth: Optional[float] = None) -> Tensor:
    """scale * sqrt(mean(d^2) - variance_focus * mean(d)^2) with
    d = log(pred) - log(target) over the pixels with min_depth < target
    (< max_depth where given) of the whole batch; 0 (with a gradient) where
    no pixel is valid. Computed in float32 at least."""
    _check(pred, target)
    dtype = torch.promote_types(pred.dtype, torch.float32)
    pred, target = pred.to(dtype), target.to(dtype)
    valid = target > min_depth
    if max_depth is not None:
        valid &= target < max_depth
    if not valid.any():
        return pred.sum() * 0
    d = pred[valid].clamp_min(MIN_PREDICTION).log() - target[valid].log()
    # mean(d^2) >= mean(d)^2 >= variance_focus * mean(d)^2; the clamp keeps
    # the gradient of sqrt finite at a perfect prediction.
    value = (d.square().mean() - variance_focus * d.mean().square())
    return scale * value.clamp_min(1e-12).sqrt()


@MODELS.register_module()
class BTSSiLogLoss(nn.Module):
    """:func:`bts_silog_loss` as an mmseg loss (``loss_decode``).

    Args:
        variance_focus: lambda (BTS: 0.85).
        scale: the factor in front (BTS: 10).
        min_depth: targets at or below it are invalid (BTS on NYU: 0.1 m).
        max_depth: targets at or above it are invalid; None: no bound.
        loss_weight: factor of the loss.
        loss_name: the key of the loss in the losses dict.
    """

    def __init__(self, variance_focus: float = 0.85, scale: float = 10.0,
                 min_depth: float = 0.1, max_depth: Optional[float] = None,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_silog') -> None:
        super().__init__()
        if not 0 <= variance_focus <= 1:
            raise ValueError(f'BTSSiLogLoss: variance_focus must be in [0, 1]'
                             f', got {variance_focus}')
        if max_depth is not None and max_depth <= min_depth:
            raise ValueError(f'BTSSiLogLoss: max_depth must exceed min_depth, '
                             f'got max_depth={max_depth}, '
                             f'min_depth={min_depth}')
        self.variance_focus = variance_focus
        self.scale = scale
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, pred: Tensor, target: Tensor, **kwargs) -> Tensor:
        """pred and target: depth maps in metres, of one shape."""
        return self.loss_weight * bts_silog_loss(
            pred, target, self.variance_focus, self.scale, self.min_depth,
            self.max_depth)

    @property
    def loss_name(self) -> str:
        """The key of the loss in the losses dict."""
        return self._loss_name

    def extra_repr(self) -> str:
        return (f'variance_focus={self.variance_focus}, scale={self.scale}, '
                f'min_depth={self.min_depth}, max_depth={self.max_depth}')
