"""The ASPP of A2U matting (DeepLabv3+ style, depthwise-separable)."""
from typing import Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from .encoder import LEAKY


@MODELS.register_module()
class MattingASPP(BaseModule):
    """Atrous spatial pyramid pooling: a 1x1 branch, depthwise-separable
    3x3 branches at the given dilations (BN after the depthwise and the
    pointwise conv), image pooling (1x1 conv on the global average, resized
    back), concatenated, fused by a 1x1 conv, Dropout.

    Args:
        in_channels, channels: input and output channels.
        dilations: the dilations; the first is the 1x1 branch's (1).
        dropout: the Dropout probability after the fusion.
        norm_cfg: the normalisation.
    """

    def __init__(self, in_channels: int = 256, channels: int = 256,
                 dilations: Sequence[int] = (1, 6, 12, 18),
                 dropout: float = 0.5,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__()
        if not dilations or dilations[0] != 1:
            raise ValueError(f'MattingASPP: dilations must start with the '
                             f'1x1 branch (1), got dilations={dilations}')
        self.branches = nn.ModuleList(
            [ConvModule(in_channels, channels, 1, norm_cfg=norm_cfg,
                        act_cfg=LEAKY)] +
            [DepthwiseSeparableConvModule(
                in_channels, channels, 3, padding=d, dilation=d,
                norm_cfg=norm_cfg, act_cfg=LEAKY) for d in dilations[1:]])
        self.image_pool = ConvModule(in_channels, channels, 1,
                                     norm_cfg=norm_cfg, act_cfg=LEAKY)
        self.fuse = ConvModule(channels * (len(dilations) + 1), channels, 1,
                               norm_cfg=norm_cfg, act_cfg=LEAKY)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        pooled = self.image_pool(F.adaptive_avg_pool2d(x, 1))
        outs = [branch(x) for branch in self.branches]
        outs.append(F.interpolate(pooled, size=x.shape[-2:],
                                  mode='bilinear', align_corners=False))
        return self.dropout(self.fuse(torch.cat(outs, dim=1)))
