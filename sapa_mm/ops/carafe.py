"""CARAFE's feature reassembly on the SAPA aggregate kernels.

mmcv's ``carafe`` op has CUDA kernels only. Its reassembly is the SAPA
``aggregate`` op with the predicted kernels as weights: output point (i, j)
sums the K x K window around (i // s, j // s) (zero-padded), channel group g
weighted by mask channels [g*K*K, (g+1)*K*K). This gives CARAFE on every
device sapa_mm supports, with the same definition as mmcv's CUDA op.
"""
from torch import Tensor

from .functional import aggregate


def carafe_reassemble(features: Tensor, masks: Tensor, kernel_size: int,
                      group_size: int, scale_factor: int) -> Tensor:
    """Same arguments and result as ``mmcv.ops.carafe``.

    Args:
        features: (N, C, h, w) features, C divisible by ``group_size``.
        masks: (N, group_size*K*K, h*s, w*s) normalised reassembly kernels.
        kernel_size: odd K.
        group_size: number of channel groups sharing one kernel.
        scale_factor: integer upsampling ratio s.

    Returns:
        (N, C, h*s, w*s) reassembled features.
    """
    N, C, h, w = features.shape
    if C % group_size != 0:
        raise ValueError(f'carafe: features channels ({C}) must be divisible '
                         f'by group_size={group_size}, got '
                         f'features.shape={tuple(features.shape)}')
    expected = (N, group_size * kernel_size**2, h * scale_factor,
                w * scale_factor)
    if tuple(masks.shape) != expected:
        raise ValueError(f'carafe: masks must have shape {expected} for '
                         f'features.shape={tuple(features.shape)}, '
                         f'kernel_size={kernel_size}, '
                         f'group_size={group_size}, '
                         f'scale_factor={scale_factor}; got '
                         f'masks.shape={tuple(masks.shape)}')
    H, W = masks.shape[-2:]
    out = aggregate(
        masks.reshape(N * group_size, kernel_size**2, H, W),
        features.reshape(N * group_size, C // group_size, h, w), kernel_size)
    return out.reshape(N, C, H, W)
