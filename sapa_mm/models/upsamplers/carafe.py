"""CARAFE (Wang et al., ICCV 2019) as a guided upsampler: mmcv's
``CARAFEPack`` with a reassembly that runs on every device and dtype."""
from typing import Optional

import torch
from mmcv.ops import CARAFEPack
from mmcv.ops.carafe import carafe as mmcv_carafe
from mmengine.registry import MODELS
from torch import Tensor

from ...ops import checks
from ...ops.carafe import carafe_reassemble
from .guided import GuidedUpsampler, pixel_shuffle

#: The dtypes mmcv's CUDA ``carafe`` dispatches (bfloat16 raises there).
MMCV_DTYPES = (torch.float32, torch.float16, torch.float64)


def _uses_mmcv_op(features: Tensor) -> bool:
    """Whether :func:`reassemble` hands ``features`` to mmcv's CUDA op."""
    return features.is_cuda and features.dtype in MMCV_DTYPES


def reassemble(features: Tensor, masks: Tensor, kernel_size: int,
               group_size: int, scale_factor: int) -> Tensor:
    """CARAFE's feature reassembly, as ``mmcv.ops.carafe``, on any device.

    On CUDA, float32/float16/float64 features go to mmcv's op. Its launcher
    reads ``data_ptr()`` as dense NCHW and the mask with the features'
    dtype, so both are given to it contiguous and the mask cast to the
    features' dtype: Mask2Former's decoder and channels-last models pass
    strided features, and under float16 autocast the softmaxed mask is
    float32 while the features may be float16. bfloat16 features, which
    mmcv's op rejects, and every other device take
    :func:`sapa_mm.ops.carafe.carafe_reassemble` (the same reassembly on the
    SAPA ``aggregate`` kernels, which accumulate half types in float32).

    Args:
        features: (N, C, h, w).
        masks: (N, group_size * K * K, h * s, w * s) normalised kernels.
        kernel_size, group_size, scale_factor: as in ``mmcv.ops.carafe``.

    Returns:
        (N, C, h * s, w * s), in the features' dtype.
    """
    masks = masks.to(features.dtype)
    if _uses_mmcv_op(features):
        return mmcv_carafe(features.contiguous(), masks.contiguous(),
                           kernel_size, group_size, scale_factor)
    return carafe_reassemble(features, masks, kernel_size, group_size,
                             scale_factor)


@MODELS.register_module()
class GuidedCARAFE(GuidedUpsampler, CARAFEPack):
    """mmcv's ``CARAFEPack`` (same parameters and initialisation) as a guided
    upsampler, running on CPU too.

    CARAFE upsamples by an integer ``scale_factor``; the output is cropped to
    the guide's size, which handles the odd sizes of mmseg's test pipeline
    (e.g. 86 -> 171): output row i then still reads low-res row i // s, the
    same row as floor(i * h / H). The reassembly is :func:`reassemble`.

    Args:
        in_channels: channels of ``x``.
        guide_channels: channels of the guide (unused; CARAFE's kernels come
            from ``x``).
        scale_factor: integer upsampling ratio.
        up_kernel, up_group, encoder_kernel, encoder_dilation,
        compressed_channels: as in ``mmcv.ops.CARAFEPack``.
    """

    def __init__(self,
                 in_channels: int,
                 guide_channels: Optional[int] = None,
                 scale_factor: int = 2,
                 up_kernel: int = 5,
                 up_group: int = 1,
                 encoder_kernel: int = 3,
                 encoder_dilation: int = 1,
                 compressed_channels: int = 64) -> None:
        CARAFEPack.__init__(
            self,
            channels=in_channels,
            scale_factor=scale_factor,
            up_kernel=up_kernel,
            up_group=up_group,
            encoder_kernel=encoder_kernel,
            encoder_dilation=encoder_dilation,
            compressed_channels=compressed_channels)

    def kernel_normalizer(self, mask: Tensor) -> Tensor:
        """CARAFEPack's: pixel-shuffled to the output size, softmax over each
        group's K*K taps; with every size explicit (mmcv's ``view(n, g, -1,
        h, w)`` is undefined for an empty batch)."""
        mask = pixel_shuffle(mask, self.scale_factor)
        n, channels, h, w = mask.shape
        taps = self.up_kernel**2
        return mask.view(n, channels // taps, taps, h, w).softmax(2).view(
            n, channels, h, w).contiguous()

    def feature_reassemble(self, x: Tensor, mask: Tensor) -> Tensor:
        return reassemble(x, mask, self.up_kernel, self.up_group,
                          self.scale_factor)

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:
        self.check_inputs(x, guide)
        checks.check_channels(
            type(self).__name__, 'x', x, self.channels, 'in_channels')
        (h, w), (H, W) = x.shape[-2:], guide.shape[-2:]
        s = self.scale_factor
        if not (s * (h - 1) < H <= s * h and s * (w - 1) < W <= s * w):
            raise ValueError(
                f'GuidedCARAFE: scale_factor={s} maps x of size ({h}, {w}) '
                f'to ({s * h}, {s * w}), which cannot be cropped to the '
                f'guide size ({H}, {W}); x.shape={tuple(x.shape)}, '
                f'guide.shape={tuple(guide.shape)}')
        return CARAFEPack.forward(self, x)[..., :H, :W]

    def extra_repr(self) -> str:
        return (f'in_channels={self.channels}, '
                f'scale_factor={self.scale_factor}, '
                f'up_kernel={self.up_kernel}, up_group={self.up_group}, '
                f'encoder_kernel={self.encoder_kernel}, '
                f'compressed_channels={self.compressed_channels}')
