"""BTS's local planar guidance (LPG): a depth map at full resolution from
per-pixel planes predicted at a coarse one, without parameters."""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...ops import checks


def plane_coefficients(params: Tensor, max_depth: float) -> Tensor:
    """(B, 3, h, w) raw predictions -> (B, 4, h, w) plane coefficients: a
    unit normal (n1, n2, n3) from the polar angle sigmoid(p0) * pi / 3 and
    the azimuth sigmoid(p1) * 2 pi, and the distance sigmoid(p2) *
    max_depth."""
    theta = torch.sigmoid(params[:, 0]) * (math.pi / 3)
    phi = torch.sigmoid(params[:, 1]) * (2 * math.pi)
    dist = torch.sigmoid(params[:, 2]) * max_depth
    normal = torch.stack([theta.sin() * phi.cos(), theta.sin() * phi.sin(),
                          theta.cos()], 1)
    # Unit by construction; normalised as BTS does, for rounding.
    normal = F.normalize(normal, p=2, dim=1)
    return torch.cat([normal, dist.unsqueeze(1)], 1)


def local_planar_guidance(planes: Tensor, ratio: int) -> Tensor:
    """Depth (B, h * ratio, w * ratio) of the planes (B, 4, h, w).

    Each coarse pixel's plane (n1, n2, n3, n4) covers a ratio x ratio patch;
    the patch pixel at offsets (u, v), centred and divided by ``ratio``
    (u along the width, v along the height), gets the depth
    n4 / (n1 u + n2 v + n3). The offsets are made on the planes' device and
    in their dtype, for any (h, w).
    """
    checks.check_feature('local_planar_guidance', 'planes', planes)
    checks.check_positive_ints('local_planar_guidance', ratio=ratio)
    if planes.shape[1] != 4:
        raise ValueError('local_planar_guidance: planes must have 4 channels '
                         '(n1, n2, n3, n4), got '
                         f'planes.shape={tuple(planes.shape)}')
    B, _, h, w = planes.shape
    expanded = planes.repeat_interleave(ratio, 2).repeat_interleave(ratio, 3)
    n1, n2, n3, n4 = expanded.unbind(1)
    offsets = (torch.arange(ratio, device=planes.device, dtype=planes.dtype)
               - (ratio - 1) / 2) / ratio
    u = offsets.repeat(w)  # (w * ratio, ): along the width
    v = offsets.repeat(h).unsqueeze(1)  # (h * ratio, 1): along the height
    return n4 / (n1 * u + n2 * v + n3)


class LocalPlanarGuidance(nn.Module):
    """:func:`local_planar_guidance` as a module (no parameters).

    Args:
        ratio: the upsampling ratio (BTS: 8, 4 and 2).
    """

    def __init__(self, ratio: int) -> None:
        super().__init__()
        checks.check_positive_ints('LocalPlanarGuidance', ratio=ratio)
        self.ratio = ratio

    def forward(self, planes: Tensor) -> Tensor:
        """(B, 4, h, w) planes -> (B, h * ratio, w * ratio) depth."""
        return local_planar_guidance(planes, self.ratio)

    def extra_repr(self) -> str:
        return f'ratio={self.ratio}'
