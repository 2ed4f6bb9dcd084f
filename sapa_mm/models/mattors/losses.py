"""The losses of A2U matting: Charbonnier penalties of the alpha and of the
composition, over the trimap's unknown region."""
import torch
from torch import Tensor

#: The Charbonnier epsilon squared (sqrt(d^2 + eps) keeps the gradient
#: finite at d = 0).
EPS = 1e-12


def _masked_mean(loss: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``loss`` over the pixels of ``mask`` (broadcast over
    channels); 0 without any."""
    mask = mask.expand_as(loss)
    return (loss * mask).sum() / mask.sum().clamp(min=1)


def charbonnier_alpha_loss(pred: Tensor, gt: Tensor,
                           unknown: Tensor) -> Tensor:
    """sqrt((pred - gt)^2 + eps) averaged over the unknown pixels.

    Args:
        pred, gt: (B, 1, H, W) alpha mattes.
        unknown: (B, 1, H, W) float mask of the unknown region.
    """
    return _masked_mean(torch.sqrt((pred - gt)**2 + EPS), unknown)


def charbonnier_composition_loss(pred: Tensor, fg: Tensor, bg: Tensor,
                                 merged: Tensor, unknown: Tensor) -> Tensor:
    """The image composited with the predicted alpha, pred fg + (1 - pred)
    bg, against the merged image: sqrt(d^2 + eps) averaged over the unknown
    pixels and the three channels.

    Args:
        pred: (B, 1, H, W) alpha.
        fg, bg, merged: (B, 3, H, W) in [0, 1].
        unknown: (B, 1, H, W) float mask of the unknown region.
    """
    composed = pred * fg + (1 - pred) * bg
    return _masked_mean(torch.sqrt((composed - merged)**2 + EPS), unknown)
