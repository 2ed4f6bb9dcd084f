"""A2U matting (ResNet-34) with one swappable guided upsampler, as an
mmengine model: the SAPA paper's matting table."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from mmseg.registry import MODELS
from torch import Tensor

from .losses import charbonnier_alpha_loss, charbonnier_composition_loss

#: The encoder's total stride: inputs are padded to a multiple of it.
STRIDE = 16


def pad_to_multiple(x: Tensor, multiple: int = STRIDE) -> Tensor:
    """x (B, C, H, W) padded at the bottom/right to multiples of
    ``multiple``: reflected, as the authors' test, where the padding is
    shorter than the image (else replicated)."""
    H, W = x.shape[-2:]
    pad_h, pad_w = -H % multiple, -W % multiple
    if not (pad_h or pad_w):
        return x
    mode = 'reflect' if pad_h < H and pad_w < W else 'replicate'
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def fill_known(alpha: Tensor, trimap: Tensor) -> Tensor:
    """alpha clipped to [0, 1], with 0 where the trimap is 0 and 1 where it
    is 255."""
    alpha = alpha.clamp(0, 1)
    alpha = torch.where(trimap == 0, torch.zeros_like(alpha), alpha)
    return torch.where(trimap == 255, torch.ones_like(alpha), alpha)


@MODELS.register_module()
class GuidedMattor(BaseModel):
    """Encoder, ASPP and the guided decoder on RGB + trimap.

    ``loss``: 0.5 Charbonnier(alpha) + 0.5 Charbonnier(composition) over
    the unknown region (weights ``alpha_weight``, ``comp_weight``); each
    data sample carries ``gt_alpha`` (1, H, W) in [0, 1], ``trimap``
    (1, H, W) in {0, 128, 255} and, for the composition term, ``gt_fg`` and
    ``gt_bg`` (3, H, W) in [0, 1]. ``predict``: the batch reflect-padded to
    a multiple of 16, the output cropped back to each image's
    ``img_shape``, clipped to [0, 1], the known pixels taken from the
    trimap; each data sample gets ``pred_alpha`` (H, W).

    Args:
        backbone, neck, decode_head: the encoder
            (:class:`~.encoder.MattingResNet34`), the ASPP
            (:class:`~.aspp.MattingASPP`) and the decoder
            (:class:`~.decoder.GuidedMattingDecoder`, which takes the
            ``upsample_cfg``).
        data_preprocessor: :class:`~.data_preprocessor.
            MattingDataPreprocessor` by default.
        alpha_weight, comp_weight: the weights of the two losses.
        init_cfg: as in mmengine's ``BaseModel``.
    """

    #: The input channels, RGB and trimap (read by the FLOPs counter).
    input_channels = 4

    def __init__(self, backbone: dict, neck: dict, decode_head: dict,
                 data_preprocessor: Optional[dict] = None,
                 alpha_weight: float = 0.5, comp_weight: float = 0.5,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='MattingDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.decode_head = MODELS.build(decode_head)
        self.alpha_weight = alpha_weight
        self.comp_weight = comp_weight

    def _forward(self, inputs: Tensor,
                 data_samples: Optional[Sequence] = None) -> Tensor:
        """The raw alpha (B, 1, H, W) of inputs (B, 4, H, W), H and W
        multiples of 16."""
        feats = self.backbone(inputs)
        return self.decode_head(self.neck(feats['l3']), feats)

    def forward(self, inputs: Tensor,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'
                ) -> Union[Tensor, Dict[str, Tensor], List]:
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f"GuidedMattor: mode must be 'tensor', 'loss' or "
                         f"'predict', got {mode!r}")

    @staticmethod
    def _stack(data_samples: Sequence[BaseDataElement], key: str,
               size) -> Tensor:
        """The samples' ``key`` maps (C, h, w), zero padded to ``size``."""
        maps = []
        for sample in data_samples:
            value = sample.get(key)
            if value is None:
                raise KeyError(f'GuidedMattor: training needs {key!r} in '
                               f'every data sample')
            value = value.float()
            if value.dim() == 2:
                value = value[None]
            maps.append(F.pad(value, (0, size[1] - value.shape[-1], 0,
                                      size[0] - value.shape[-2])))
        return torch.stack(maps)

    def loss(self, inputs: Tensor,
             data_samples: List[BaseDataElement]) -> Dict[str, Tensor]:
        pred = self._forward(inputs)
        size = inputs.shape[-2:]
        gt = self._stack(data_samples, 'gt_alpha', size).to(pred)
        trimap = self._stack(data_samples, 'trimap', size).to(pred)
        unknown = (trimap == 128).to(pred)
        losses = dict(loss_alpha=self.alpha_weight *
                      charbonnier_alpha_loss(pred, gt, unknown))
        if self.comp_weight:
            preprocessor = self.data_preprocessor
            merged = (inputs[:, :3] * preprocessor.std +
                      preprocessor.mean) / 255
            fg = self._stack(data_samples, 'gt_fg', size).to(pred)
            bg = self._stack(data_samples, 'gt_bg', size).to(pred)
            losses['loss_comp'] = self.comp_weight * \
                charbonnier_composition_loss(pred, fg, bg, merged, unknown)
        return losses

    def predict(self, inputs: Tensor,
                data_samples: List[BaseDataElement]) -> List:
        H, W = inputs.shape[-2:]
        pred = self._forward(pad_to_multiple(inputs))[..., :H, :W]
        # The trimap channel is trimap / 255 (0, 128 / 255 or 1).
        trimap = torch.round(inputs[:, 3:] * 255)
        pred = fill_known(pred, trimap)
        for sample, alpha in zip(data_samples, pred):
            h, w = sample.metainfo.get('img_shape', (H, W))[:2]
            sample.pred_alpha = alpha[0, :h, :w].detach()
        return list(data_samples)
