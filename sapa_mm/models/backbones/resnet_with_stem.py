"""mmseg's ResNet with the stem's output as its first feature (mmseg
registry), as BTS's encoder taps torchvision's ResNet."""
from typing import Tuple

from mmseg.models.backbones import ResNet
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ResNetWithStem(ResNet):
    """:class:`ResNet` whose outputs start with the stem's: after the stem's
    ReLU and before the max pool (stride 2, ``stem_channels`` channels),
    then the stages of ``out_indices``. With ``depth=50`` and the default
    ``style='pytorch'`` its parameters are torchvision's ResNet-50 without
    the classifier, so ``init_cfg=dict(type='Pretrained',
    checkpoint='torchvision://resnet50')`` loads the ImageNet weights.

    Args:
        **kwargs: as in :class:`ResNet`.
    """

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        outs = [x]
        x = self.maxpool(x)
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
