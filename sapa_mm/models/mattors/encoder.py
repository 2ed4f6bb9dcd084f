"""The encoder of A2U matting: a ResNet-34 truncated after layer3, with a
stride-1 stem and max-pooling instead of strided convolutions, so that
each stride keeps a feature to guide the decoder's upsampling."""
from typing import Dict, Optional

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.registry import MODELS
from torch import Tensor, nn

#: The activation of every block: the authors' InPlaceABN used leaky_relu
#: 0.01.
LEAKY = dict(type='LeakyReLU', negative_slope=0.01)


class BasicBlock(nn.Module):
    """ResNet's basic block: 3x3 conv-BN-act, 3x3 conv-BN, + shortcut, act.

    With ``pool=True`` (the first block of layer2 and layer3) the block
    halves the resolution by a 2x2 max-pool between its two convolutions,
    and its shortcut is a 1x1 conv of stride 2 + BN. ``forward`` returns the
    output and the first convolution's (pre-pool) output.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 norm_cfg: dict, pool: bool = False) -> None:
        super().__init__()
        self.conv1 = ConvModule(in_channels, out_channels, 3, padding=1,
                                norm_cfg=norm_cfg, act_cfg=LEAKY)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.conv2 = ConvModule(out_channels, out_channels, 3, padding=1,
                                norm_cfg=norm_cfg, act_cfg=None)
        self.downsample = None
        if pool or in_channels != out_channels:
            self.downsample = ConvModule(in_channels, out_channels, 1,
                                         stride=2 if pool else 1,
                                         norm_cfg=norm_cfg, act_cfg=None)
        self.act = nn.LeakyReLU(0.01, inplace=True)

    def forward(self, x: Tensor):
        first = self.conv1(x)
        out = self.conv2(self.pool(first))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act(out + shortcut), first


@MODELS.register_module()
class MattingResNet34(BaseModule):
    """Truncated ResNet-34 on RGB + trimap, returning every guide.

    Features (C @ stride): ``l0`` (64 @ 1, the 7x7 stem of stride 1),
    ``l0p`` (64 @ 2, its 2x2 max-pool), ``l1`` (64 @ 4, after a second
    max-pool and layer1's 3 blocks), ``l10`` (128 @ 4, layer2's first 3x3
    conv, before that block's max-pool), ``l2`` (128 @ 8, layer2's 4
    blocks), ``l20`` (256 @ 8, layer3's first conv), ``l3`` (256 @ 16,
    layer3's first 4 blocks); no layer4. The input is also passed on as
    ``x`` (the decoder's last shortcut reads it).

    Args:
        in_channels: input channels (RGB + trimap).
        norm_cfg: the normalisation (BN; SyncBN when distributed).
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` loads an
            ImageNet ResNet-34 (torchvision's names): its RGB stem weights
            for the first three input channels, zeros for the trimap's.
    """

    def __init__(self, in_channels: int = 4,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.conv1 = ConvModule(in_channels, 64, 7, padding=3,
                                norm_cfg=norm_cfg, act_cfg=LEAKY)
        self.pool = nn.MaxPool2d(2)
        self.layer1 = nn.ModuleList(
            BasicBlock(64, 64, norm_cfg) for _ in range(3))
        self.layer2 = nn.ModuleList(
            [BasicBlock(64, 128, norm_cfg, pool=True)] +
            [BasicBlock(128, 128, norm_cfg) for _ in range(3)])
        self.layer3 = nn.ModuleList(
            [BasicBlock(128, 256, norm_cfg, pool=True)] +
            [BasicBlock(256, 256, norm_cfg) for _ in range(3)])

    def init_weights(self) -> None:
        """Kaiming-normal convolutions and unit BNs, or the pretrained
        ResNet-34 (see the class); the trimap channel of the stem starts at
        0 either way."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                        nonlinearity='relu')
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        cfg = self.init_cfg or {}
        if cfg.get('type') == 'Pretrained':
            self._load_resnet(cfg['checkpoint'])
        with torch.no_grad():
            self.conv1.conv.weight[:, 3:] = 0

    def _load_resnet(self, checkpoint: str) -> None:
        """Loads torchvision-named ResNet weights into the truncated net."""
        state = CheckpointLoader.load_checkpoint(checkpoint,
                                                 map_location='cpu')
        state = state.get('state_dict', state)
        own = self.state_dict()
        renamed = {}
        for name, value in state.items():
            name = name.replace('conv1.weight', 'conv1.conv.weight', 1) \
                if name.startswith('conv1.') else name
            name = name.replace('bn1.', 'conv1.bn.', 1) if \
                name.startswith('bn1.') else name
            for i in (1, 2):  # inside blocks: convN / bnN -> convN.conv/bn
                name = name.replace(f'.conv{i}.weight', f'.conv{i}.conv.'
                                    'weight').replace(f'.bn{i}.',
                                                      f'.conv{i}.bn.')
            name = name.replace('downsample.0.', 'downsample.conv.').replace(
                'downsample.1.', 'downsample.bn.')
            if name in own:
                renamed[name] = value
        stem = renamed.get('conv1.conv.weight')
        if stem is not None and stem.shape[1] < self.in_channels:
            pad = stem.new_zeros(stem.shape[0],
                                 self.in_channels - stem.shape[1],
                                 *stem.shape[2:])
            renamed['conv1.conv.weight'] = torch.cat([stem, pad], 1)
        self.load_state_dict(renamed, strict=False)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """x (B, in_channels, H, W), H and W multiples of 16 -> the
        features by name (see the class)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'MattingResNet34: the input must be (B, {self.in_channels}, '
                f'H, W) (RGB and trimap), got x.shape={tuple(x.shape)}')
        H, W = x.shape[-2:]
        if H % 16 or W % 16:
            raise ValueError(
                f'MattingResNet34: H and W must be multiples of 16 (the '
                f'mattor pads to them), got x.shape={tuple(x.shape)}')
        feats = dict(x=x)
        feats['l0'] = self.conv1(x)
        feats['l0p'] = self.pool(feats['l0'])
        out = self.pool(feats['l0p'])
        for block in self.layer1:
            out, _ = block(out)
        feats['l1'] = out
        for i, block in enumerate(self.layer2):
            out, first = block(out)
            if i == 0:
                feats['l10'] = first
        feats['l2'] = out
        for i, block in enumerate(self.layer3):
            out, first = block(out)
            if i == 0:
                feats['l20'] = first
        feats['l3'] = out
        return feats
