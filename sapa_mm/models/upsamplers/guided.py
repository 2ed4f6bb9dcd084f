"""Guided upsamplers: modules with ``forward(x, guide)`` that upsample a
low-res ``x`` (B, C, h, w) to the spatial size (H, W) of a high-res
``guide`` (B, Cg, H, W).

Heads and necks take an ``upsample_cfg`` and call
:func:`build_guided_upsampler`, so swapping bilinear, nearest, CARAFE and
SAPA is a config change. The fixed interpolations ignore the guide's content;
CARAFE predicts its kernels from ``x``; IndexNet and A2U predict theirs from
the guide; SAPA compares ``x`` with the guide.
"""
from contextlib import nullcontext
from typing import ContextManager, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...ops import checks


class GuidedUpsampler(nn.Module):
    """Base of the guided upsamplers.

    Subclasses are built as ``cls(in_channels=..., guide_channels=...,
    **cfg)`` and implement ``forward(x, guide)``, returning ``x`` upsampled to
    ``guide``'s (H, W). Called without a guide (as the layers of mmcv's
    ``build_upsample_layer`` are), they raise a TypeError that says so.
    """

    def __call__(self, *args, **kwargs):
        if len(args) + len(kwargs) < 2:
            raise TypeError(
                f'{type(self).__name__} is a guided upsampler: call it as '
                f'module(x, guide), with the high-res guide whose size the '
                f'output takes (got {len(args) + len(kwargs)} argument). '
                f'Heads and necks build it with sapa_mm.models.'
                f'build_guided_upsampler; for a layer with forward(x) use '
                f"mmcv.cnn.build_upsample_layer with e.g. type='carafe'.")
        return super().__call__(*args, **kwargs)

    def check_inputs(self,
                     x: Tensor,
                     guide: Tensor,
                     in_channels: Optional[int] = None,
                     guide_channels: Optional[int] = None) -> None:
        """Shapes and devices, and the channels where given; the dtypes may
        differ (e.g. under autocast): the guide gives the size, and SAPA
        casts what it computes with."""
        name = type(self).__name__
        checks.check_pair(name, 'guide', guide, 'x', x, same_dtype=False)
        if in_channels is not None:
            checks.check_channels(name, 'x', x, in_channels, 'in_channels')
        if guide_channels is not None:
            checks.check_channels(name, 'guide', guide, guide_channels,
                                  'guide_channels')


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype an upsampler computes in: autocast's where it is on, else
    x's."""
    device_type = x.device.type
    if torch.amp.is_autocast_available(device_type) and \
            torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return x.dtype


def pixel_shuffle(x: Tensor, factor: int) -> Tensor:
    """``F.pixel_shuffle``: (B, C * f * f, h, w) -> (B, C, h * f, w * f),
    as a permutation of a view. torch's own backward returns a gradient of
    the wrong shape for an empty batch (torch 2.13), which the upsamplers
    that predict kernels at low resolution must take."""
    B, C, h, w = x.shape
    c = C // (factor * factor)
    return x.reshape(B, c, factor, factor, h, w).permute(
        0, 1, 4, 2, 5, 3).reshape(B, c, h * factor, w * factor)


def autocast_off(device_type: str) -> ContextManager:
    """A context with autocast off on ``device_type``; nothing to switch off
    where autocast does not exist (meta tensors)."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


class EvenSizeUpsampler(GuidedUpsampler):
    """Base of the upsamplers written for an exact 2x whose upsampling is
    predicted from the guide (IndexNet, A2U), for any size: the guide is
    zero-padded at the bottom/right to the even (H', W') = (H + H % 2,
    W + W % 2), :meth:`upsample_even` computes the output at (H', W'), and
    it is cropped to the guide's (H, W). For H' = 2h, i.e. H = 2h or the odd
    H = 2h - 1 of stride-2 encoders (mmseg's 'whole' test mode: 86x64 under
    171x128), this is the authors' 2x followed by a crop, as the CARAFE row
    does.

    Args:
        in_channels: channels C of ``x``.
        guide_channels: channels Cg of the guide; defaults to ``in_channels``.
    """

    def __init__(self, in_channels: int,
                 guide_channels: Optional[int] = None) -> None:
        super().__init__()
        guide_channels = in_channels if guide_channels is None else \
            guide_channels
        checks.check_positive_ints(type(self).__name__,
                                   in_channels=in_channels,
                                   guide_channels=guide_channels)
        self.in_channels = in_channels
        self.guide_channels = guide_channels

    def upsample_even(self, x: Tensor, guide: Tensor) -> Tensor:
        """x (B, C, h, w) upsampled to the size (H', W') of the padded guide
        (B, Cg, H', W'), in x's dtype."""
        raise NotImplementedError(
            f'{type(self).__name__} must implement upsample_even(x, guide)')

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:
        """Upsamples x (B, C, h, w) to guide's (H, W): (B, C, H, W) in the
        compute dtype (autocast's where it is on, else x's)."""
        self.check_inputs(x, guide, self.in_channels, self.guide_channels)
        H, W = guide.shape[-2:]
        if H % 2 or W % 2:
            guide = F.pad(guide, (0, W % 2, 0, H % 2))
        return self.upsample_even(x.to(compute_dtype(x)), guide)[..., :H, :W]

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, '
                f'guide_channels={self.guide_channels}')
