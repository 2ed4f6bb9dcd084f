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
from typing import ContextManager, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor, nn

from ..ops import checks


class GuidedUpsampler(nn.Module):
    """Base of the guided upsamplers.

    Subclasses are built as ``cls(in_channels=..., guide_channels=...,
    **cfg)`` and implement ``forward(x, guide)``, returning ``x`` upsampled to
    ``guide``'s (H, W).
    """

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


@MODELS.register_module()
class GuidedResize(GuidedUpsampler):
    """Fixed interpolation (``F.interpolate``) to the guide's size.

    Args:
        in_channels: channels of ``x`` (unused; part of the interface).
        guide_channels: channels of the guide (unused).
        mode: an ``F.interpolate`` mode: 'nearest', 'bilinear', 'bicubic'.
        align_corners: as in ``F.interpolate``; None for 'nearest'.
    """

    def __init__(self,
                 in_channels: Optional[int] = None,
                 guide_channels: Optional[int] = None,
                 mode: str = 'bilinear',
                 align_corners: Optional[bool] = None) -> None:
        super().__init__()
        if mode not in ('nearest', 'bilinear', 'bicubic'):
            raise ValueError(f"GuidedResize: mode must be 'nearest', "
                             f"'bilinear' or 'bicubic', got {mode!r}")
        if mode == 'nearest' and align_corners is not None:
            raise ValueError('GuidedResize: align_corners only applies to '
                             f'bilinear/bicubic, got mode={mode!r}, '
                             f'align_corners={align_corners}')
        if mode != 'nearest' and align_corners is None:
            align_corners = False
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:
        self.check_inputs(x, guide)
        return F.interpolate(
            x,
            size=guide.shape[-2:],
            mode=self.mode,
            align_corners=self.align_corners)

    def extra_repr(self) -> str:
        s = f'mode={self.mode!r}'
        if self.align_corners is not None:
            s += f', align_corners={self.align_corners}'
        return s


# upsample_cfg types that name a fixed mode or mmcv's CARAFE, mapped to the
# registered guided modules that implement them (GuidedCARAFE, in
# carafe.py, needs mmcv; the rest of this file does not).
_ALIASES = {
    'nearest': ('GuidedResize', dict(mode='nearest')),
    'bilinear': ('GuidedResize', dict(mode='bilinear')),
    'bicubic': ('GuidedResize', dict(mode='bicubic')),
    'carafe': ('GuidedCARAFE', {}),
    'CARAFE': ('GuidedCARAFE', {}),
}


def init_guided_upsamplers(module: nn.Module) -> None:
    """Re-runs the own initialisation of every guided upsampler in
    ``module``: a parent's ``init_cfg`` (e.g. Xavier on every Conv2d) reaches
    their layers too, and mmengine does not call ``init_weights`` through
    plain ``nn.ModuleList``s."""
    for m in module.modules():
        if isinstance(m, GuidedUpsampler) and hasattr(m, 'init_weights'):
            m.init_weights()


def build_guided_upsampler(cfg: Union[dict, None], in_channels: int,
                           guide_channels: int) -> GuidedUpsampler:
    """Builds a guided upsampler from an ``upsample_cfg``.

    Args:
        cfg: ``dict(type=..., **kwargs)``. ``type`` is 'nearest', 'bilinear',
            'bicubic', 'carafe', or any registered :class:`GuidedUpsampler`
            ('SAPA', 'SAPA-I', 'SAPA-B', 'SAPA-G', 'IndexNet', 'A2U', ...),
            or such a class.
        in_channels: channels of the low-res input ``x``.
        guide_channels: channels of the high-res guide.

    Returns:
        A module with ``forward(x, guide)``.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'upsample_cfg must be a dict with a "type" key, got '
                        f'{cfg!r}')
    kwargs = dict(cfg)
    layer_type = kwargs.pop('type')
    if isinstance(layer_type, str) and layer_type in _ALIASES:
        name, defaults = _ALIASES[layer_type]
        cls = MODELS.get(name)
        if cls is None:  # GuidedCARAFE without mmcv
            raise ImportError(f'upsample_cfg type={layer_type!r} needs '
                              f"{name}, which needs mmcv's ops: install "
                              f'mmcv (see the README, section Install)')
        kwargs = {**defaults, **kwargs}
    elif isinstance(layer_type, type):
        cls = layer_type
    else:
        cls = MODELS.get(layer_type)
    if not (isinstance(cls, type) and issubclass(cls, GuidedUpsampler)):
        raise ValueError(
            f'upsample_cfg type={layer_type!r} is not a guided upsampler '
            f'(a GuidedUpsampler with forward(x, guide)); use one of '
            f'{sorted(_ALIASES)} or a registered GuidedUpsampler such as '
            f"'SAPA-B'")
    return cls(in_channels=in_channels, guide_channels=guide_channels,
               **kwargs)
