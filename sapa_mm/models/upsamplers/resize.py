"""Fixed interpolation as a guided upsampler: the bilinear/nearest rows."""
from typing import Optional

import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor

from .guided import GuidedUpsampler


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
