"""SegFormer's all-MLP head with guided upsamplers (mmseg registry)."""
import torch
from mmseg.models.decode_heads import SegformerHead
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..upsamplers import build_guided_upsampler, init_guided_upsamplers


@MODELS.register_module()
class GuidedSegformerHead(SegformerHead):
    """:class:`SegformerHead` whose stage features reach 1/4 resolution
    through cascaded guided upsamplers instead of one bilinear resize.

    After the per-stage MLP projection to ``channels``, stage i is upsampled
    step by step to stage 0's size, each step guided by the projected feature
    of the next finer stage: stage 3 -> (guided by p2) -> (p1) -> (p0),
    stage 2 -> (p1) -> (p0), stage 1 -> (p0); 6 upsamplers for 4 stages.
    With ``upsample_cfg=dict(type='bilinear')`` the steps are bilinear; the
    paper's bilinear baseline is the upstream ``SegformerHead``.

    Args:
        upsample_cfg: config of the guided upsampler, see
            :func:`sapa_mm.models.build_guided_upsampler`.
        **kwargs: as in :class:`SegformerHead`.
    """

    def __init__(self, upsample_cfg: dict = dict(type='SAPA-B'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.upsample_cfg = dict(upsample_cfg)
        # upsamplers[i][s] is step s of stage i (to the size of stage i-s-1).
        self.upsamplers = nn.ModuleList(
            nn.ModuleList(
                build_guided_upsampler(self.upsample_cfg, self.channels,
                                       self.channels) for _ in range(stage))
            for stage in range(len(self.in_channels)))

    def init_weights(self) -> None:
        super().init_weights()
        init_guided_upsamplers(self.upsamplers)

    def forward(self, inputs) -> Tensor:
        inputs = self._transform_inputs(inputs)
        projected = [conv(x) for conv, x in zip(self.convs, inputs)]
        outs = []
        for stage, feat in enumerate(projected):
            guides = reversed(projected[:stage])  # p_{stage-1}, ..., p_0
            for upsampler, guide in zip(self.upsamplers[stage], guides):
                feat = upsampler(feat, guide)
            outs.append(feat)
        out = self.fusion_conv(torch.cat(outs, dim=1))
        return self.cls_seg(out)
