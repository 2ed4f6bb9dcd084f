"""FPN whose top-down upsampling is a guided upsampler (mmdet registry)."""
from typing import List, Tuple, Union

import torch.nn.functional as F
from mmdet.models.necks import FPN
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, MultiConfig, OptConfigType
from torch import Tensor, nn

from ..upsamplers import build_guided_upsampler, init_guided_upsamplers


@MODELS.register_module()
class GuidedFPN(FPN):
    """mmdet's :class:`FPN` with each top-down step a guided upsampler.

    Each coarser lateral is upsampled guided by the finer lateral it is then
    added to: ``lateral[i-1] + up(lateral[i], guide=lateral[i-1])``. With
    ``upsample_cfg=dict(type='nearest')`` this is exactly mmdet's ``FPN``; with
    ``type='GuidedCARAFE'`` it is the plain FPN with CARAFE in its top-down
    steps (the CARAFE paper's detection setting, one ``CARAFEPack`` per step);
    with ``type='SAPA-B'`` etc. the SAPA upsamplers. Every other argument
    (``start_level``, ``add_extra_convs``, ...) behaves as in ``FPN``, and any
    input size works (no padding to a multiple needed).

    Args:
        upsample_cfg: config of the guided upsampler, see
            :func:`sapa_mm.models.build_guided_upsampler`.
        Others: as in :class:`mmdet.models.necks.FPN`.
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 num_outs: int,
                 start_level: int = 0,
                 end_level: int = -1,
                 add_extra_convs: Union[bool, str] = False,
                 relu_before_extra_convs: bool = False,
                 no_norm_on_lateral: bool = False,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = None,
                 upsample_cfg: ConfigType = dict(type='nearest'),
                 init_cfg: MultiConfig = dict(
                     type='Xavier', layer='Conv2d', distribution='uniform')
                 ) -> None:
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            num_outs=num_outs,
            start_level=start_level,
            end_level=end_level,
            add_extra_convs=add_extra_convs,
            relu_before_extra_convs=relu_before_extra_convs,
            no_norm_on_lateral=no_norm_on_lateral,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)
        self.upsample_cfg = dict(upsample_cfg)
        # upsamplers[i] brings lateral i + 1 to the size of lateral i.
        self.upsamplers = nn.ModuleList(
            build_guided_upsampler(self.upsample_cfg, out_channels,
                                   out_channels)
            for _ in range(len(self.lateral_convs) - 1))

    def init_weights(self) -> None:
        super().init_weights()
        init_guided_upsamplers(self.upsamplers)

    def forward(self, inputs: Tuple[Tensor]) -> tuple:
        """Same inputs and outputs as :meth:`FPN.forward`."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'GuidedFPN: expected {len(self.in_channels)} '
                             f'inputs, got {len(inputs)}')
        laterals = [
            conv(inputs[i + self.start_level])
            for i, conv in enumerate(self.lateral_convs)
        ]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + self.upsamplers[i - 1](
                laterals[i], laterals[i - 1])
        outs = [conv(lateral) for conv, lateral in
                zip(self.fpn_convs, laterals)]
        return tuple(outs + self._extra_levels(inputs, laterals, outs))

    def _extra_levels(self, inputs: Tuple[Tensor], laterals: List[Tensor],
                      outs: List[Tensor]) -> List[Tensor]:
        """The levels above the backbone's, as FPN builds them."""
        n_extra = self.num_outs - len(outs)
        if n_extra <= 0:
            return []
        if not self.add_extra_convs:
            extra = [F.max_pool2d(outs[-1], 1, stride=2)]
            while len(extra) < n_extra:
                extra.append(F.max_pool2d(extra[-1], 1, stride=2))
            return extra
        source = {
            'on_input': inputs[self.backbone_end_level - 1],
            'on_lateral': laterals[-1],
            'on_output': outs[-1],
        }[self.add_extra_convs]
        convs = self.fpn_convs[len(outs):]
        extra = [convs[0](source)]
        for conv in convs[1:]:
            previous = F.relu(extra[-1]) if self.relu_before_extra_convs \
                else extra[-1]
            extra.append(conv(previous))
        return extra
