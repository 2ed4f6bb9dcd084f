"""The decoder of A2U matting with one swappable guided upsampler: four 2x
stages from stride 16 to 1, each guided by an encoder feature, then the
alpha prediction."""
from typing import Dict, Optional

from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..upsamplers import build_guided_upsampler, init_guided_upsamplers
from .encoder import LEAKY, BasicBlock

#: Per stage: (guide feature, its channels, skip feature, its channels,
#: output channels); the input of the first stage is the ASPP's 256.
STAGES = (
    ('l20', 256, 'l2', 128, 128),
    ('l10', 128, 'l1', 64, 64),
    ('l0p', 64, 'l0p', 64, 64),
    ('l0', 64, 'x', 4, 32),
)


class DecoderStage(nn.Module):
    """``x = up(x, guide); x = x + short(skip)``, then two residual 3x3
    blocks to ``out_channels``; ``short`` is a 3x3 conv-BN-act from the
    skip's channels to x's."""

    def __init__(self, in_channels: int, guide_channels: int,
                 skip_channels: int, out_channels: int, upsample_cfg: dict,
                 norm_cfg: dict) -> None:
        super().__init__()
        self.upsample = build_guided_upsampler(upsample_cfg, in_channels,
                                               guide_channels)
        self.short = ConvModule(skip_channels, in_channels, 3, padding=1,
                                norm_cfg=norm_cfg, act_cfg=LEAKY)
        self.blocks = nn.ModuleList([
            BasicBlock(in_channels, out_channels, norm_cfg),
            BasicBlock(out_channels, out_channels, norm_cfg)
        ])

    def forward(self, x: Tensor, guide: Tensor, skip: Tensor) -> Tensor:
        x = self.upsample(x, guide) + self.short(skip)
        for block in self.blocks:
            x, _ = block(x)
        return x


@MODELS.register_module()
class GuidedMattingDecoder(BaseModule):
    """Four guided 2x stages (guides ``l20``, ``l10``, ``l0p``, ``l0`` of
    :class:`~sapa_mm.models.mattors.encoder.MattingResNet34`; 256 -> 128 ->
    64 -> 64 -> 32 channels) and the prediction: a 3x3 conv-BN-act 32 -> 1
    and a 3x3 conv 1 -> 1 without bias. No sigmoid: the mattor clips at
    test time.

    Args:
        in_channels: channels of the context (the ASPP's output).
        upsample_cfg: the upsampler of every stage, built by
            :func:`~sapa_mm.models.upsamplers.build_guided_upsampler` with
            (in_channels, guide_channels) = (x's, the guide's).
        norm_cfg: the normalisation.
        init_cfg: as in mmengine's ``BaseModule``.
    """

    def __init__(self, in_channels: int = 256,
                 upsample_cfg: dict = dict(type='nearest'),
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.upsample_cfg = dict(upsample_cfg)
        stages = []
        channels = in_channels
        for _, guide_channels, _, skip_channels, out_channels in STAGES:
            stages.append(DecoderStage(channels, guide_channels,
                                       skip_channels, out_channels,
                                       upsample_cfg, norm_cfg))
            channels = out_channels
        self.stages = nn.ModuleList(stages)
        self.pred = nn.Sequential(
            ConvModule(channels, 1, 3, padding=1, norm_cfg=norm_cfg,
                       act_cfg=LEAKY),
            nn.Conv2d(1, 1, 3, padding=1, bias=False))

    def init_weights(self) -> None:
        super().init_weights()
        init_guided_upsamplers(self)  # their own init, not a parent's

    def forward(self, context: Tensor, feats: Dict[str, Tensor]) -> Tensor:
        """context (B, in_channels, H/16, W/16) and the encoder's features
        -> the raw alpha (B, 1, H, W)."""
        x = context
        for (guide, _, skip, _, _), stage in zip(STAGES, self.stages):
            x = stage(x, feats[guide], feats[skip])
        return self.pred(x)
