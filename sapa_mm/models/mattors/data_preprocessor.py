"""The data preprocessor of the matting models: RGB normalised with the
ImageNet statistics and the trimap / 255 as a fourth channel, batched with
zero padding."""
from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS

#: ImageNet's RGB mean and std, in [0, 255].
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class MattingDataPreprocessor(BaseDataPreprocessor):
    """Stacks ``inputs`` (each (4, H, W): RGB in [0, 255] and the trimap in
    {0, 128, 255}) into (B, 4, H', W'): RGB normalised, trimap / 255, zero
    padded at the bottom/right to the batch's largest size rounded up to
    ``size_divisor`` (the mattor's test-time reflect padding to 16 then
    has nothing left to do for a batch of one).

    Args:
        mean, std: the RGB normalisation, in [0, 255].
        size_divisor: the padded size's divisor.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 size_divisor: int = 1) -> None:
        super().__init__()
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'MattingDataPreprocessor: mean and std are the '
                             f'RGB statistics (3 values each), got '
                             f'mean={mean}, std={std}')
        self.register_buffer('mean', torch.tensor(mean).view(3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std).view(3, 1, 1),
                             persistent=False)
        self.size_divisor = size_divisor

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs)
        for i, image in enumerate(inputs):
            if image.dim() != 3 or image.shape[0] != 4:
                raise ValueError(
                    f'MattingDataPreprocessor: each input must be (4, H, W) '
                    f'(RGB and trimap), got inputs[{i}].shape='
                    f'{tuple(image.shape)}')
        if not inputs:
            raise ValueError('MattingDataPreprocessor: an empty batch')
        d = self.size_divisor
        H = -(-max(image.shape[1] for image in inputs) // d) * d
        W = -(-max(image.shape[2] for image in inputs) // d) * d
        batch = []
        for image in inputs:
            image = image.float()
            rgb = (image[:3] - self.mean) / self.std
            trimap = image[3:] / 255
            image = torch.cat([rgb, trimap])
            batch.append(F.pad(image, (0, W - image.shape[2], 0,
                                       H - image.shape[1])))
        return dict(inputs=torch.stack(batch),
                    data_samples=data.get('data_samples'))
