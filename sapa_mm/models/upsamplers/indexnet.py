"""IndexNet (Lu et al., "Indices Matter: Learning to Index for Deep Image
Matting", ICCV 2019) as a guided upsampler: the SAPA paper's IndexNet row."""
from typing import Optional

import torch
from mmengine.model.weight_init import constant_init, kaiming_init
from mmengine.registry import MODELS
from torch import Tensor, nn

from ...ops import checks
from ...ops.functional import nearest_upsample
from .guided import EvenSizeUpsampler, pixel_shuffle

#: The index blocks: IndexNet's holistic block and its depthwise
#: many-to-one block.
INDEX_BLOCKS = ('holistic', 'depthwise_m2o')
#: The norm_cfg types IndexNet builds (torch's classes, no mmcv needed).
NORM_LAYERS = {'BN': nn.BatchNorm2d, 'SyncBN': nn.SyncBatchNorm}


def build_norm(op: str, cfg: dict, num_features: int) -> nn.Module:
    """A BatchNorm from an OpenMMLab ``norm_cfg``: ``dict(type='BN' or
    'SyncBN', requires_grad=True, **torch_kwargs)`` (a config's SyncBN then
    becomes BN where tools/train.py runs on CPU, as the models' own)."""
    if not isinstance(cfg, dict) or cfg.get('type') not in NORM_LAYERS:
        raise ValueError(f'{op}: norm_cfg must be a dict with type in '
                         f'{sorted(NORM_LAYERS)}, got norm_cfg={cfg!r}')
    kwargs = dict(cfg)
    layer = NORM_LAYERS[kwargs.pop('type')]
    requires_grad = kwargs.pop('requires_grad', True)
    norm = layer(num_features, **kwargs)
    norm.requires_grad_(requires_grad)
    return norm


@MODELS.register_module()
class IndexNet(EvenSizeUpsampler):
    """IndexNet's index blocks (nonlinear, with context), applied as
    index-guided unpooling of ``x`` under the guide. The holistic block is
    the default (the SAPA paper's segmentation and detection rows);
    ``index_block='depthwise_m2o'`` is IndexNet matting's many-to-one
    depthwise block (its matting row).

    The holistic block (``index_block='holistic'``):

    1. index net on the guide: Conv2d(Cg -> 2Cg, 4x4, stride 2, padding 1,
       no bias), BatchNorm, ReLU6, Conv2d(2Cg -> 4, 1x1, no bias):
       (B, 4, H/2, W/2);
    2. sigmoid, pixel_shuffle(., 2): one index map (B, 1, H, W); the SAPA
       authors' upsampler applies a second sigmoid to it before use, which
       is kept (their numbers come from it);
    3. output = index map * nearest-2x(x), the map broadcast over C channels.

    Sizes other than an exact 2x (mmseg's 'whole' test mode gives e.g. an
    86x64 ``x`` under a 171x128 guide): as every
    :class:`~sapa_mm.models.upsamplers.guided.EvenSizeUpsampler`, the guide is
    zero-padded at the bottom/right to even (H', W') (one extra zero
    row/column beside the 4x4 conv's own padding), the output is computed at
    (H', W') and cropped to (H, W). Output point (i, j) multiplies x at
    (floor(i * h / H'), floor(j * w / W')) (:func:`nearest_upsample`), i.e.
    (i // 2, j // 2) for H' = 2h, which covers H = 2h and the odd H = 2h - 1
    of stride-2 encoders: the authors' 2x followed by a crop, as the CARAFE
    row does. Other ratios (any (H, W) >= (h, w)) take the same rule.

    The depthwise M2O block (``index_block='depthwise_m2o'``): one branch
    per position of the 2x2 cell, each Conv2d(Cg -> rCg, 4x4, stride 2,
    padding 1, no bias), BatchNorm, ReLU6, Conv2d(rCg -> C, 1x1, no bias),
    r = ``hidden_ratio``; the four (B, C, H/2, W/2) maps stacked per
    channel, sigmoid, pixel-shuffled to a per-channel index map
    (B, C, H, W) (IndexNet's decoder index, one sigmoid), and output =
    index map * nearest-2x(x). IndexNet matting's code builds the branches
    at r = 1 and widens only its holistic block's hidden layer (2Cg); r = 2
    puts that width in every branch, the reading of the SAPA paper's matting
    row (docs/matting.md).

    Parameters and FLOPs of both blocks, in the paper's accounting:
    docs/complexity.md.

    Args:
        in_channels: channels C of ``x``.
        guide_channels: channels Cg of the guide; defaults to ``in_channels``.
        norm_cfg: the BatchNorm, ``dict(type='BN')`` or
            ``dict(type='SyncBN')`` (plus torch's keyword arguments, e.g.
            ``momentum``, and ``requires_grad``).
        index_block: 'holistic' or 'depthwise_m2o'.
        hidden_ratio: hidden width of the index nets over Cg (2: the
            holistic block's).
    """

    def __init__(self,
                 in_channels: int,
                 guide_channels: Optional[int] = None,
                 norm_cfg: dict = dict(type='BN'),
                 index_block: str = 'holistic',
                 hidden_ratio: int = 2) -> None:
        super().__init__(in_channels, guide_channels)
        guide_channels = self.guide_channels
        if index_block not in INDEX_BLOCKS:
            raise ValueError(f'IndexNet: index_block must be one of '
                             f'{INDEX_BLOCKS}, got {index_block!r}')
        checks.check_positive_ints('IndexNet', hidden_ratio=hidden_ratio)
        self.norm_cfg = dict(norm_cfg)
        self.index_block = index_block
        self.hidden_ratio = hidden_ratio
        hidden = hidden_ratio * guide_channels

        def index_net(out_channels: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(guide_channels, hidden, kernel_size=4, stride=2,
                          padding=1, bias=False),
                build_norm('IndexNet', norm_cfg, hidden),
                nn.ReLU6(inplace=True),
                nn.Conv2d(hidden, out_channels, kernel_size=1, bias=False))

        if index_block == 'holistic':
            self.index_net = index_net(4)
        else:
            self.index_nets = nn.ModuleList(
                index_net(in_channels) for _ in range(4))
        self.init_weights()

    def init_weights(self) -> None:
        """The IndexNet authors' initialisation: convolutions
        N(0, 2 / (k * k * out_channels)) (Kaiming, fan-out), BatchNorm
        weight 1 and bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m, mode='fan_out', nonlinearity='relu',
                             distribution='normal')
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                constant_init(m, 1)

    def index_map(self, guide: Tensor) -> Tensor:
        """The index map of a guide (B, Cg, H, W) of even size, in (0, 1):
        (B, 1, H, W) for the holistic block, (B, C, H, W) for the depthwise
        M2O block."""
        if self.index_block == 'holistic':
            logits = self.index_net(guide)
            return torch.sigmoid(pixel_shuffle(torch.sigmoid(logits), 2))
        # (B, C, 4, h, w): channel c's four cell positions side by side, as
        # pixel_shuffle reads (B, 4C, h, w).
        logits = torch.stack([net(guide) for net in self.index_nets], 2)
        B, C, _, h, w = logits.shape
        return pixel_shuffle(torch.sigmoid(logits).reshape(B, 4 * C, h, w),
                             2)

    def upsample_even(self, x: Tensor, guide: Tensor) -> Tensor:
        index = self.index_map(guide).to(x.dtype)
        return index * nearest_upsample(x, index.shape[-2:])

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, norm_cfg={self.norm_cfg}, '
                f'index_block={self.index_block!r}, '
                f'hidden_ratio={self.hidden_ratio}')
