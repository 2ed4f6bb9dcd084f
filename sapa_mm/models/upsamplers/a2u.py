"""A2U (Dai et al., "Learning Affinity-Aware Upsampling for Deep Image
Matting", CVPR 2021) as a guided upsampler: the SAPA paper's A2U row."""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor, nn

from ...ops import checks
from ...ops.functional import aggregate
from .guided import EvenSizeUpsampler, pixel_shuffle

try:  # mmcv's CUDA op where mmcv is installed, as for the CARAFE row
    from .carafe import reassemble
except ImportError:  # without mmcv: the SAPA aggregate kernels everywhere
    from ...ops.carafe import carafe_reassemble as reassemble


@MODELS.register_module()
class A2U(EvenSizeUpsampler):
    """Affinity-aware upsampling: CARAFE's reassembly of ``x`` with s x s
    kernels predicted from the second-order affinity of the guide, in the
    setting of the SAPA paper (k x k encoder kernels shared across channels,
    rank 1, one group; s = 3, k = 6).

    1. p = Conv1x1(Cg -> 4s^2, bias)(global-avg-pool(guide)): per image the
       weights of a dynamic 1x1 conv from 1 to 4s^2 channels;
    2. u = Conv1x1(Cg -> 1, bias)(adaptive-avg-pool k x k (guide)): a k x k
       kernel per image; v the same with its own weights;
    3. the guide convolved channel-wise with u (the same kernel for every
       channel, stride 2, padding (k - 1) // 2): (B, Cg, H/2, W/2), then
       GroupNorm and LeakyReLU; likewise with v (its own GroupNorm);
    4. a = sum over channels of the product of the two / sqrt(Cg):
       (B, 1, H/2, W/2);
    5. the dynamic 1x1 conv of a with p: (B, 4s^2, H/2, W/2);
       pixel_shuffle(., 2): (B, s^2, H, W); sigmoid, then softmax over the
       s^2 taps;
    6. output = CARAFE reassembly of x with these kernels, scale 2
       (:func:`~sapa_mm.models.upsamplers.carafe.reassemble`: mmcv's op on
       CUDA, the SAPA aggregate kernels elsewhere, as for the CARAFE row).

    Sizes other than an exact 2x: as every
    :class:`~sapa_mm.models.upsamplers.guided.EvenSizeUpsampler`, the guide is
    zero-padded at the bottom/right to even (H', W'), the kernels are
    predicted and the output reassembled at (H', W'), then cropped to
    (H, W). Output point (i, j) reassembles the s x s window of x around
    (floor(i * h / H'), floor(j * w / W')): CARAFE's (i // 2, j // 2) for
    H' = 2h, which covers H = 2h and the odd H = 2h - 1 of stride-2
    encoders (the authors' 2x followed by a crop, as the CARAFE row does);
    other ratios (any (H, W) >= (h, w)) reassemble with the SAPA
    ``aggregate`` op, which maps any ratio so.

    Parameters and FLOPs, in the paper's accounting: docs/complexity.md.

    Args:
        in_channels: channels C of ``x``.
        guide_channels: channels Cg of the guide; defaults to ``in_channels``.
        up_kernel: odd reassembly kernel size s.
        encoder_kernel: size k of the channel-wise encoder kernels u and v.
        norm_groups: groups of the two GroupNorms; divides Cg.
    """

    def __init__(self,
                 in_channels: int,
                 guide_channels: Optional[int] = None,
                 up_kernel: int = 3,
                 encoder_kernel: int = 6,
                 norm_groups: int = 32) -> None:
        super().__init__(in_channels, guide_channels)
        guide_channels = self.guide_channels
        checks.check_positive_ints('A2U', encoder_kernel=encoder_kernel,
                                   norm_groups=norm_groups)
        checks.check_kernel_size('A2U', up_kernel)
        if guide_channels % norm_groups != 0:
            raise ValueError(f'A2U: norm_groups must divide guide_channels '
                             f'(GroupNorm), got norm_groups={norm_groups}, '
                             f'guide_channels={guide_channels}')
        self.up_kernel = up_kernel
        self.encoder_kernel = encoder_kernel
        self.norm_groups = norm_groups
        self.kernel_weights = nn.Conv2d(guide_channels, 4 * up_kernel**2, 1)
        self.encoder_u = nn.Conv2d(guide_channels, 1, 1)
        self.encoder_v = nn.Conv2d(guide_channels, 1, 1)
        self.norm_u = nn.GroupNorm(norm_groups, guide_channels)
        self.norm_v = nn.GroupNorm(norm_groups, guide_channels)
        self.init_weights()

    def init_weights(self) -> None:
        """PyTorch's default initialisation of the convolutions and
        GroupNorms, as in the authors' code (which sets none of its own);
        restores them where a parent's ``init_cfg`` reached these layers."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.GroupNorm)):
                m.reset_parameters()

    def kernels(self, guide: Tensor) -> Tensor:
        """The normalised reassembly kernels (B, s^2, H, W) of a guide
        (B, Cg, H, W) of even size."""
        B, Cg, H, W = guide.shape
        k, taps = self.encoder_kernel, 4 * self.up_kernel**2
        if B == 0:  # no image, no kernel (and conv2d takes no 0 groups)
            return guide.new_zeros(0, self.up_kernel**2, H, W)
        p = self.kernel_weights(F.adaptive_avg_pool2d(guide, 1))
        pooled = F.adaptive_avg_pool2d(guide, k)  # u's and v's input
        channels = guide.reshape(1, B * Cg, H, W)

        def encode(encoder: nn.Conv2d, norm: nn.GroupNorm) -> Tensor:
            # The image's k x k kernel for each of its channels: one
            # depthwise conv over the batch's B * Cg channels.
            kernel = encoder(pooled)
            kernel = kernel.expand(B, Cg, k, k).reshape(B * Cg, 1, k, k)
            out = F.conv2d(channels, kernel, stride=2, padding=(k - 1) // 2,
                           groups=B * Cg)
            return F.leaky_relu(norm(out.reshape(B, Cg, H // 2, W // 2)))

        affinity = (encode(self.encoder_u, self.norm_u) *
                    encode(self.encoder_v, self.norm_v)).sum(
                        1, keepdim=True) / math.sqrt(Cg)
        # The dynamic 1x1 conv (1 -> 4s^2 channels per image), the images as
        # groups.
        logits = F.conv2d(
            affinity.reshape(1, B, H // 2, W // 2),
            p.reshape(B * taps, 1, 1, 1),
            groups=B).reshape(B, taps, H // 2, W // 2)
        return torch.sigmoid(pixel_shuffle(logits, 2)).softmax(1)

    def upsample_even(self, x: Tensor, guide: Tensor) -> Tensor:
        masks = self.kernels(guide).to(x.dtype)
        h, w = x.shape[-2:]
        if masks.shape[-2:] == (2 * h, 2 * w):
            return reassemble(x, masks, self.up_kernel, 1, 2)
        return aggregate(masks, x, self.up_kernel)  # any other ratio

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, up_kernel={self.up_kernel}, '
                f'encoder_kernel={self.encoder_kernel}, '
                f'norm_groups={self.norm_groups}')
