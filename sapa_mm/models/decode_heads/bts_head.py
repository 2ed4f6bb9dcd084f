"""BTS's decoder (Lee et al. 2019) as an mmseg decode head for
``DepthEstimator``, with guided upsamplers in its up-convolutions."""
import warnings
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor, nn

from ...ops import checks
from ..upsamplers import build_guided_upsampler, init_guided_upsamplers
from .local_planar_guidance import local_planar_guidance, plane_coefficients

#: BTS's dense ASPP dilations, at 1/8.
DASPP_DILATIONS = (3, 6, 12, 18, 24)


def _conv3x3(in_channels: int, out_channels: int,
             dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=dilation,
                     dilation=dilation, bias=False)


def _conv_elu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(_conv3x3(in_channels, out_channels), nn.ELU())


class GuidedUpConv(nn.Module):
    """BTS's up-convolution with the 2x nearest interpolation replaced by a
    guided upsampler: ELU(conv3x3(upsample(x, guide))), at the guide's size.

    Args:
        in_channels: channels of x.
        out_channels: channels of the output.
        guide_channels: channels of the guide.
        upsample_cfg: see :func:`sapa_mm.models.build_guided_upsampler`.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 guide_channels: int, upsample_cfg: dict) -> None:
        super().__init__()
        self.upsample = build_guided_upsampler(upsample_cfg, in_channels,
                                               guide_channels)
        self.conv = _conv3x3(in_channels, out_channels)
        self.act = nn.ELU()

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:
        return self.act(self.conv(self.upsample(x, guide)))


class DenseASPPBlock(nn.Sequential):
    """One atrous block of BTS's dense ASPP: [BN,] ReLU, 1x1 conv to twice
    the width, BN, ReLU, dilated 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int,
                 norm_cfg: dict, norm_first: bool = True) -> None:
        layers = [build_norm_layer(norm_cfg, in_channels)[1]] \
            if norm_first else []
        layers += [
            nn.ReLU(),
            nn.Conv2d(in_channels, 2 * out_channels, 1, bias=False),
            build_norm_layer(norm_cfg, 2 * out_channels)[1],
            nn.ReLU(),
            _conv3x3(2 * out_channels, out_channels, dilation)
        ]
        super().__init__(*layers)


class Reduction(nn.Sequential):
    """BTS's 1x1 reduction: 1x1 convs (with ELU) halving from
    ``out_channels`` while the width is at least 8, then a 1x1 conv to
    ``final_channels`` (3 plane parameters, or 1 with a sigmoid for the
    full-resolution depth cue)."""

    def __init__(self, in_channels: int, out_channels: int,
                 final_channels: int) -> None:
        layers = []
        while out_channels >= 8:
            layers += [nn.Conv2d(in_channels, out_channels, 1, bias=False),
                       nn.ELU()]
            in_channels, out_channels = out_channels, out_channels // 2
        layers.append(nn.Conv2d(in_channels, final_channels, 1, bias=False))
        if final_channels == 1:
            layers.append(nn.Sigmoid())
        super().__init__(*layers)


@MODELS.register_module()
class BTSHead(BaseDecodeHead):
    """BTS's decoder: up-convolutions with skip connections from 1/32 to
    1/2, a dense ASPP at 1/8, and local planar guidance (LPG) from 1/8, 1/4
    and 1/2 to full resolution, predicting max_depth * sigmoid(.) metres.

    The up-convolutions upconv5 (1/32 -> 1/16), upconv4, upconv3 and
    upconv2 (-> 1/2) upsample with a guided upsampler built from
    ``upsample_cfg``, guided by the encoder's feature at the target scale
    (skip3, skip2, skip1, skip0), and take that feature's size, so any input
    size works (BTS's nearest 2x needs multiples of 32). upconv1 (1/2 -> 1)
    stays a nearest 2x; the LPG depths are cropped to its size. With
    ``upsample_cfg=dict(type='nearest')`` and a 32-divisible input this is
    BTS's decoder.

    Args:
        in_channels: channels of the encoder's five features, stride 2 (the
            stem) to 32: (64, 256, 512, 1024, 2048) for ResNet-50.
        channels: BTS's ``num_features`` (512); a multiple of 16.
        max_depth: the largest depth (m) the head predicts.
        min_depth: test predictions are clamped to [min_depth, max_depth].
        upsample_cfg: config of the guided upsampler of upconv5..2.
        norm_cfg: the norm layers (BTS: BN with momentum 0.01).
        loss_decode: the loss (or a list of losses) of the full-resolution
            depth against ``gt_depth_map``.
        init_cfg: BTS initialises the decoder's convolutions Xavier-uniform.
        **kwargs: as in :class:`BaseDecodeHead`.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 256, 512, 1024, 2048),
                 channels: int = 512,
                 max_depth: float = 10.0,
                 min_depth: float = 1e-3,
                 upsample_cfg: dict = dict(type='nearest'),
                 norm_cfg: dict = dict(type='BN', momentum=0.01, eps=1.1e-5),
                 loss_decode=dict(type='BTSSiLogLoss'),
                 init_cfg=dict(type='Xavier', layer='Conv2d',
                               distribution='uniform'),
                 **kwargs) -> None:
        if not isinstance(in_channels, (list, tuple)) or \
                len(in_channels) != 5:
            raise ValueError(f'BTSHead: in_channels must list the channels of '
                             f'5 features (strides 2 to 32), got '
                             f'{in_channels!r}')
        checks.check_positive_ints('BTSHead', channels=channels)
        if channels % 16:
            raise ValueError(f'BTSHead: channels must be a multiple of 16, '
                             f'got {channels}')
        if not max_depth > 0:
            raise ValueError(f'BTSHead: max_depth must be > 0, got '
                             f'{max_depth}')
        if not 0 < min_depth < max_depth:
            raise ValueError(f'BTSHead: min_depth must be in (0, max_depth='
                             f'{max_depth}), got {min_depth}')
        with warnings.catch_warnings():
            # A binary-segmentation threshold, which a depth head has no use
            # for: BaseDecodeHead warns that it defaults to 0.3.
            warnings.filterwarnings('ignore', 'threshold is not defined')
            super().__init__(
                in_channels=list(in_channels), channels=channels,
                num_classes=1, out_channels=1, dropout_ratio=0,
                norm_cfg=norm_cfg, in_index=list(range(5)),
                input_transform='multiple_select', loss_decode=loss_decode,
                init_cfg=init_cfg, **kwargs)
        # The depth comes from get_depth: BaseDecodeHead's classifier would
        # be a parameter without a gradient (an error under DDP).
        del self.conv_seg
        self.max_depth = float(max_depth)
        self.min_depth = float(min_depth)
        self.upsample_cfg = dict(upsample_cfg)
        c0, c1, c2, c3, c4 = in_channels
        n = channels

        def upconv(name: str, cin: int, cout: int, guide: int,
                   guide_name: str) -> GuidedUpConv:
            try:
                return GuidedUpConv(cin, cout, guide, self.upsample_cfg)
            except ValueError as error:
                raise ValueError(
                    f'BTSHead: {name} upsamples x of {cin} channels guided '
                    f'by {guide_name} of {guide}: {error}') from error

        def norm(c: int) -> nn.Module:
            return build_norm_layer(norm_cfg, c)[1]

        self.upconv5 = upconv('upconv5', c4, n, c3, 'skip3')
        self.bn5 = norm(n)
        self.conv5 = _conv_elu(n + c3, n)
        self.upconv4 = upconv('upconv4', n, n // 2, c2, 'skip2')
        self.bn4 = norm(n // 2)
        self.conv4 = _conv_elu(n // 2 + c2, n // 2)
        self.bn4_2 = norm(n // 2)
        # Each block reads the concatenation of upconv4, skip2 and the
        # blocks before it (the first reads conv4's output).
        self.daspp = nn.ModuleList(
            DenseASPPBlock(n // 2 if i == 0 else n // 2 + c2 + i * (n // 4),
                           n // 4, d, norm_cfg, norm_first=i > 0)
            for i, d in enumerate(DASPP_DILATIONS))
        self.daspp_conv = _conv_elu(n // 2 + len(DASPP_DILATIONS) * (n // 4),
                                    n // 4)
        self.reduc8x8 = Reduction(n // 4, n // 4, 3)
        self.upconv3 = upconv('upconv3', n // 4, n // 4, c1, 'skip1')
        self.bn3 = norm(n // 4)
        self.conv3 = _conv_elu(n // 4 + c1 + 1, n // 4)
        self.reduc4x4 = Reduction(n // 4, n // 8, 3)
        self.upconv2 = upconv('upconv2', n // 4, n // 8, c0, 'skip0')
        self.bn2 = norm(n // 8)
        self.conv2 = _conv_elu(n // 8 + c0 + 1, n // 8)
        self.reduc2x2 = Reduction(n // 8, n // 16, 3)
        self.upconv1 = _conv_elu(n // 8, n // 16)  # after a nearest 2x
        self.reduc1x1 = Reduction(n // 16, n // 32, 1)
        self.conv1 = _conv_elu(n // 16 + 4, n // 16)
        self.get_depth = _conv3x3(n // 16, 1)

    def init_weights(self) -> None:
        super().init_weights()
        init_guided_upsamplers(self)

    def _check_features(self, feats: List[Tensor]) -> None:
        for i, (feat, channels) in enumerate(zip(feats, self.in_channels)):
            checks.check_feature('BTSHead', f'inputs[{i}]', feat)
            if feat.shape[1] != channels:
                shapes = [tuple(f.shape) for f in feats]
                raise ValueError(
                    f'BTSHead: inputs[{i}] (stride {2 ** (i + 1)}) must have '
                    f'in_channels[{i}]={channels} channels, got the shapes '
                    f'{shapes} for in_channels={self.in_channels}')

    def _lpg(self, reduction: nn.Module, feat: Tensor, ratio: int,
             size: Tuple[int, int]) -> Tensor:
        """The LPG depth of ``feat``'s planes at full resolution, cropped to
        ``size`` and divided by max_depth: (B, 1, H, W)."""
        planes = plane_coefficients(reduction(feat), self.max_depth)
        depth = local_planar_guidance(planes, ratio)
        return depth[:, None, :size[0], :size[1]] / self.max_depth

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """The encoder's 5 features (strides 2 to 32) -> depth (B, 1, H, W)
        in metres, (H, W) twice the stride-2 feature's size."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 5:
            got = f'{len(inputs)} features' if isinstance(
                inputs, (list, tuple)) else type(inputs).__name__
            raise ValueError('BTSHead: inputs must be the 5 features of '
                             f'strides 2 to 32, got {got}')
        feats = self._transform_inputs(inputs)
        self._check_features(feats)
        skip0, skip1, skip2, skip3, feat = feats
        size = (2 * skip0.shape[2], 2 * skip0.shape[3])
        iconv5 = self.conv5(torch.cat(
            [self.bn5(self.upconv5(feat, skip3)), skip3], 1))
        concat4 = torch.cat([self.bn4(self.upconv4(iconv5, skip2)), skip2], 1)
        iconv4 = self.bn4_2(self.conv4(concat4))
        dense, stacked = [iconv4], concat4
        for i, block in enumerate(self.daspp):
            out = block(iconv4 if i == 0 else stacked)
            dense.append(out)
            stacked = torch.cat([stacked, out], 1)
        daspp_feat = self.daspp_conv(torch.cat(dense, 1))
        depth8 = self._lpg(self.reduc8x8, daspp_feat, 8, size)

        up3 = self.bn3(self.upconv3(daspp_feat, skip1))
        iconv3 = self.conv3(torch.cat(
            [up3, skip1, F.interpolate(depth8, skip1.shape[2:])], 1))
        depth4 = self._lpg(self.reduc4x4, iconv3, 4, size)

        up2 = self.bn2(self.upconv2(iconv3, skip0))
        iconv2 = self.conv2(torch.cat(
            [up2, skip0, F.interpolate(depth4, skip0.shape[2:])], 1))
        depth2 = self._lpg(self.reduc2x2, iconv2, 2, size)

        up1 = self.upconv1(F.interpolate(iconv2, size))
        iconv1 = self.conv1(torch.cat(
            [up1, self.reduc1x1(up1), depth2, depth4, depth8], 1))
        return self.max_depth * torch.sigmoid(self.get_depth(iconv1))

    def _stack_batch_gt(self, batch_data_samples) -> Tensor:
        maps = []
        for i, sample in enumerate(batch_data_samples):
            gt = sample.gt_depth_map.data
            if not gt.is_floating_point():
                raise TypeError(
                    f'BTSHead: gt_depth_map of sample {i} must be floating '
                    f'point (metres), got {gt.dtype}; load it with '
                    f'LoadDepthAnnotation(depth_rescale_factor=1e-3)')
            if gt.dim() != 3 or gt.shape[0] != 1:
                raise ValueError(f'BTSHead: gt_depth_map of sample {i} must '
                                 f'be (1, H, W), got {tuple(gt.shape)}')
            maps.append(gt)
        shapes = {tuple(m.shape) for m in maps}
        if len(shapes) > 1:
            raise ValueError(f'BTSHead: the gt_depth_maps of a batch must '
                             f'have one shape, got {sorted(shapes)}')
        return torch.stack(maps)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples) -> dict:
        """The losses of the predicted depth (B, 1, H, W), resized to the
        ground truth's size, against ``gt_depth_map``."""
        gt = self._stack_batch_gt(batch_data_samples)
        pred = seg_logits
        if pred.shape[2:] != gt.shape[2:]:
            pred = F.interpolate(pred, gt.shape[2:], mode='bilinear',
                                 align_corners=self.align_corners)
        losses_decode = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        losses = {}
        for loss_decode in losses_decode:
            value = loss_decode(pred, gt.to(pred.dtype))
            name = loss_decode.loss_name
            losses[name] = losses[name] + value if name in losses else value
        return losses

    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """The depth resized to the input's size, clamped to [min_depth,
        max_depth] as BTS evaluates it."""
        depth = super().predict_by_feat(seg_logits, batch_img_metas)
        return depth.clamp(self.min_depth, self.max_depth)

    def extra_repr(self) -> str:
        return (f'max_depth={self.max_depth}, min_depth={self.min_depth}, '
                f'upsample_cfg={self.upsample_cfg}')

