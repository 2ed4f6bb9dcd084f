"""mmseg's MaskFormer head, accepting a guided pixel decoder."""
from mmcv.cnn import Conv2d
from mmseg.models.decode_heads import MaskFormerHead
from mmseg.registry import MODELS
from torch import nn

from ..pixel_decoders import GuidedPixelDecoder


@MODELS.register_module()
class GuidedMaskFormerHead(MaskFormerHead):
    """:class:`mmseg.models.decode_heads.MaskFormerHead` for a
    ``GuidedPixelDecoder``.

    mmdet's MaskFormer head projects the backbone's last feature (the
    transformer decoder's memory) to the decoder's width only when its pixel
    decoder is of type exactly ``PixelDecoder``; this head adds the same 1x1
    projection for :class:`GuidedPixelDecoder`, which returns the same
    memory. Arguments are those of ``MaskFormerHead``.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        in_channels = self.pixel_decoder.in_channels[-1]
        if isinstance(self.pixel_decoder, GuidedPixelDecoder) and \
                isinstance(self.decoder_input_proj, nn.Identity) and (
                    in_channels != self.decoder_embed_dims
                    or kwargs.get('enforce_decoder_input_project', False)):
            self.decoder_input_proj = Conv2d(
                in_channels, self.decoder_embed_dims, kernel_size=1)
