"""MaskFormer's and Mask2Former's pixel decoders with guided upsamplers in
their top-down steps (mmdet registry, used by mmseg's heads as
``type='mmdet.Guided...'``)."""
from typing import List, Tuple

import torch
from mmdet.models.layers import MSDeformAttnPixelDecoder, PixelDecoder
from mmdet.registry import MODELS
from torch import Tensor, nn

from ..upsamplers import build_guided_upsampler, init_guided_upsamplers


def _build_upsamplers(cfg: dict, channels: int, count: int) -> nn.ModuleList:
    return nn.ModuleList(
        build_guided_upsampler(cfg, channels, channels) for _ in range(count))


@MODELS.register_module()
class GuidedPixelDecoder(PixelDecoder):
    """MaskFormer's FPN-like :class:`PixelDecoder` with each nearest
    top-down step a guided upsampler, guided by the lateral feature it is
    added to (3 upsamplers for 4 inputs). 'nearest' reproduces
    ``PixelDecoder``.

    Args:
        upsample_cfg: config of the guided upsampler, see
            :func:`sapa_mm.models.build_guided_upsampler`.
        Others: as in :class:`mmdet.models.layers.PixelDecoder`.
    """

    def __init__(self, *args, upsample_cfg: dict = dict(type='nearest'),
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.upsample_cfg = dict(upsample_cfg)
        # upsamplers[i] brings the running feature to the size of level i.
        self.upsamplers = _build_upsamplers(self.upsample_cfg,
                                            self.last_feat_conv.out_channels,
                                            self.num_inputs - 1)

    def init_weights(self) -> None:
        super().init_weights()
        init_guided_upsamplers(self.upsamplers)

    def forward(self, feats: List[Tensor],
                batch_img_metas: List[dict]) -> Tuple[Tensor, Tensor]:
        """Same inputs and outputs as :meth:`PixelDecoder.forward`."""
        y = self.last_feat_conv(feats[-1])
        for i in range(self.num_inputs - 2, -1, -1):
            lateral = self.lateral_convs[i](feats[i])
            y = self.output_convs[i](lateral + self.upsamplers[i](y, lateral))
        return self.mask_feature(y), feats[-1]


@MODELS.register_module()
class GuidedMSDeformAttnPixelDecoder(MSDeformAttnPixelDecoder):
    """Mask2Former's :class:`MSDeformAttnPixelDecoder` with its bilinear
    top-down step(s) below the deformable-attention levels (the single
    1/8 -> 1/4 step for 4 inputs) a guided upsampler, guided by the lateral
    feature it is added to. 'bilinear' reproduces the upstream decoder.

    Args:
        upsample_cfg: config of the guided upsampler, see
            :func:`sapa_mm.models.build_guided_upsampler`.
        Others: as in :class:`mmdet.models.layers.MSDeformAttnPixelDecoder`.
    """

    def __init__(self, *args, upsample_cfg: dict = dict(type='bilinear'),
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.upsample_cfg = dict(upsample_cfg)
        self.upsamplers = _build_upsamplers(self.upsample_cfg,
                                            self.mask_feature.in_channels,
                                            len(self.lateral_convs))

    def init_weights(self) -> None:
        super().init_weights()
        init_guided_upsamplers(self.upsamplers)

    def _encode(self, feats: List[Tensor]) -> List[Tensor]:
        """The deformable-attention encoder over the coarsest levels, as in
        the upstream forward: its outputs, coarsest first."""
        batch_size = feats[0].shape[0]
        queries, masks, positions, shapes, references = [], [], [], [], []
        for i in range(self.num_encoder_levels):
            level = self.num_input_levels - i - 1
            feat = feats[level]
            hw = torch._shape_as_tensor(feat)[2:].to(feat.device)
            mask = feat.new_zeros((batch_size, ) + feat.shape[-2:],
                                  dtype=torch.bool)
            # No padding: every image has the same encoding (computed once,
            # which also takes an empty batch).
            position = self.postional_encoding(mask.new_zeros(
                (1, ) + feat.shape[-2:])) + \
                self.level_encoding.weight[i].view(1, -1, 1, 1)
            position = position.expand(batch_size, -1, -1, -1)
            points = self.point_generator.single_level_grid_priors(
                feat.shape[-2:], level, device=feat.device)
            points = points / (hw.unsqueeze(0).flip(dims=[0, 1]) *
                               self.strides[level])
            queries.append(self.input_convs[i](feat).flatten(2).permute(
                0, 2, 1))
            masks.append(mask.flatten(1))
            positions.append(position.flatten(2).permute(0, 2, 1))
            shapes.append(hw)
            references.append(points)
        sizes = [int(s[0] * s[1]) for s in shapes]
        spatial_shapes = torch.cat(shapes).view(-1, 2)
        query = torch.cat(queries, dim=1)
        if batch_size == 0:
            # An empty batch has nothing to attend to (and mmcv's
            # deformable attention cannot view() one): the encoder maps
            # (B, N, C) to (B, N, C).
            memory = query
        else:
            level_start_index = torch.cat((spatial_shapes.new_zeros(
                (1, )), spatial_shapes.prod(1).cumsum(0)[:-1]))
            reference_points = torch.cat(
                references, dim=0)[None, :, None].repeat(
                    batch_size, 1, self.num_encoder_levels, 1)
            memory = self.encoder(
                query=query,
                query_pos=torch.cat(positions, dim=1),
                key_padding_mask=torch.cat(masks, dim=1),
                spatial_shapes=spatial_shapes,
                reference_points=reference_points,
                level_start_index=level_start_index,
                valid_ratios=reference_points.new_ones(
                    (batch_size, self.num_encoder_levels, 2)))
        memory = memory.permute(0, 2, 1)
        channels = memory.shape[1]  # explicit: -1 is undefined for B = 0
        return [
            x.reshape(batch_size, channels, *shape) for x, shape in zip(
                torch.split(memory, sizes, dim=-1), spatial_shapes.tolist())
        ]

    def forward(self, feats: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """Same inputs and outputs as :meth:`MSDeformAttnPixelDecoder.forward`.
        """
        outs = self._encode(feats)
        for i in range(len(self.lateral_convs) - 1, -1, -1):
            lateral = self.lateral_convs[i](feats[i])
            outs.append(self.output_convs[i](
                lateral + self.upsamplers[i](outs[-1], lateral)))
        return self.mask_feature(outs[-1]), outs[:self.num_outs]
