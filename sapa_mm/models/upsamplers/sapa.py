"""SAPA upsamplers (Lu et al., NeurIPS 2022): SAPA-I, SAPA-B and SAPA-G."""
from typing import Optional

import torch
from mmengine.model.weight_init import trunc_normal_
from mmengine.registry import MODELS
from torch import Tensor, nn

from ...ops import checks, functional
from ...ops import reference as ops_reference
from ...ops.channel_norm import (
    channel_linear,
    channel_norm,
    channel_norm_linear,
    channel_norm_similarity,
)
from ...ops.functional import nearest_upsample
from .guided import GuidedUpsampler, autocast_off, compute_dtype

VARIANTS = ('I', 'B', 'G')


@MODELS.register_module()
class SAPA(GuidedUpsampler):
    """Similarity-Aware Point Affiliation upsampler.

    Upsamples ``x`` (B, C, h, w) to the size of ``guide`` (B, Cg, H, W): each
    output point is the softmax-weighted sum of the K x K window of ``x``
    around its low-res position, weighted by the similarity of its query
    (from ``guide``) with the window's keys (from ``x``). The value is ``x``
    itself, so the output has ``in_channels`` channels.

    Variants:
        'I': q = LN(guide), k = LN(x), LayerNorm without affine parameters;
            no parameters, needs guide_channels == in_channels.
        'B': q = W_q LN(guide), k = W_k LN(x) (low-rank bilinear).
        'G': q = g W_y LN(guide) + (1 - g) W_x up(x), with the gate
            g = sigmoid(W_g LN(x)) nearest-upsampled; k as in 'B'. This is
            the 'gate' query mode of the authors' released code.

    Args:
        in_channels: channels C of ``x``.
        guide_channels: channels Cg of the guide; defaults to ``in_channels``.
        variant: 'I', 'B' or 'G'.
        kernel_size: odd window size K.
        embedding_dim: query/key dimension of 'B' and 'G'.
        qkv_bias: whether the q/k (and gate) projections have a bias.
        norm: whether to LayerNorm x and the guide before the projections.
        backend: op backend, see :mod:`sapa_mm.ops.functional`.
    """

    def __init__(self,
                 in_channels: int,
                 guide_channels: Optional[int] = None,
                 variant: str = 'B',
                 kernel_size: int = 5,
                 embedding_dim: int = 32,
                 qkv_bias: bool = True,
                 norm: bool = True,
                 backend: Optional[str] = None) -> None:
        super().__init__()
        guide_channels = in_channels if guide_channels is None else \
            guide_channels
        if variant not in VARIANTS:
            raise ValueError(f'SAPA: variant must be one of {VARIANTS}, got '
                             f'{variant!r}')
        checks.check_kernel_size('SAPA', kernel_size)
        checks.check_positive_ints('SAPA', in_channels=in_channels,
                                   guide_channels=guide_channels,
                                   embedding_dim=embedding_dim)
        if variant == 'I' and guide_channels != in_channels:
            raise ValueError(
                f'SAPA-I compares the guide and x directly, so it needs '
                f'guide_channels == in_channels; got guide_channels='
                f'{guide_channels}, in_channels={in_channels}. Use SAPA-B or '
                f'SAPA-G, which project both to embedding_dim.')
        self.variant = variant
        self.in_channels = in_channels
        self.guide_channels = guide_channels
        self.kernel_size = kernel_size
        self.embedding_dim = embedding_dim if variant != 'I' else in_channels
        self.qkv_bias = qkv_bias
        self.norm = norm
        self.backend = backend

        def layer_norm(channels: int) -> nn.Module:
            if not norm:
                return nn.Identity()
            return nn.LayerNorm(channels, elementwise_affine=variant != 'I')

        self.norm_guide = layer_norm(guide_channels)
        self.norm_x = layer_norm(in_channels)
        if variant != 'I':
            self.q = nn.Linear(guide_channels, embedding_dim, bias=qkv_bias)
            self.k = nn.Linear(in_channels, embedding_dim, bias=qkv_bias)
        if variant == 'G':
            self.q_x = nn.Linear(in_channels, embedding_dim, bias=qkv_bias)
            self.gate = nn.Linear(in_channels, 1, bias=qkv_bias)
        self.init_weights()

    def init_weights(self) -> None:
        """Truncated-normal(0.02) projections, zero biases, unit norms."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm) and m.elementwise_affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:
        """Upsamples x (B, C, h, w) to guide's (H, W); returns (B, C, H, W)
        in x's memory format."""
        name = f'SAPA-{self.variant}'
        checks.check_pair(name, 'guide', guide, 'x', x, same_dtype=False)
        checks.check_channels(name, 'x', x, self.in_channels, 'in_channels')
        checks.check_channels(name, 'guide', guide, self.guide_channels,
                              'guide_channels')
        # One dtype throughout (autocast's where it is on): the projections
        # and kernels then see no implicit casts.
        dtype = compute_dtype(x)
        x, guide = x.to(dtype), guide.to(dtype)
        with autocast_off(x.device.type):
            reference = functional.resolve_backend(
                self.backend, x.device) == 'reference'
            if self.variant == 'I':
                return self._sapa_i(x, guide, reference)
            query = self._project(guide, self.norm_guide, reference, self.q)
            if self.variant == 'B':
                key = self._project(x, self.norm_x, reference, self.k)
            else:
                # The key and the gate share LN(x): one projection.
                key, gate = self._project(x, self.norm_x, reference, self.k,
                                          self.gate).split(
                                              [self.embedding_dim, 1], dim=1)
                gate = torch.sigmoid(gate)
                # W_x up(x) == up(W_x x) for nearest up(): project at low
                # res.
                linear = ops_reference.channel_linear if reference else \
                    channel_linear
                q_x = linear(x, self.q_x.weight, self.q_x.bias)
                size = guide.shape[-2:]
                query = nearest_upsample(gate, size, self.backend) * query + \
                    nearest_upsample((1 - gate) * q_x, size, self.backend)
            return functional.sapa(query, key, x, self.kernel_size,
                                   self.backend)

    def _sapa_i(self, x: Tensor, guide: Tensor, reference: bool) -> Tensor:
        """SAPA-I: softmax over <LN(guide)_p, LN(x)_t> of the window taps t,
        without a normalised copy of the guide (see
        :func:`~sapa_mm.ops.channel_norm_similarity`); on the reference
        backend, the literal LayerNorms."""
        if not self.norm:
            return functional.sapa(guide, x, x, self.kernel_size,
                                   self.backend)
        if reference:
            similarity = functional.similarity(
                self._normed(guide, self.norm_guide),
                self._normed(x, self.norm_x), self.kernel_size, 'reference')
        else:
            similarity = channel_norm_similarity(
                guide, channel_norm(x, self.norm_x.eps), self.kernel_size,
                self.norm_guide.eps)
        # Over the taps as the last dim of the channels-last similarities:
        # softmax(dim=1) made layout copies of them in both directions.
        weights = similarity.permute(0, 2, 3, 1).softmax(-1)
        return functional.aggregate(weights.permute(0, 3, 1, 2), x,
                                    self.kernel_size, self.backend)

    @staticmethod
    def _project(t: Tensor, norm: nn.Module, reference: bool,
                 *linears: nn.Linear) -> Tensor:
        """The linears, stacked, over the channels of norm(t): folded into
        the compiled channel-norm ops without channels-last copies, or, on
        the reference backend, plain ``F.layer_norm`` and ``F.linear``."""
        weight = torch.cat([linear.weight for linear in linears])
        bias = None
        if linears[0].bias is not None:
            bias = torch.cat([linear.bias for linear in linears])
        if reference:
            if isinstance(norm, nn.LayerNorm):
                t = ops_reference.channel_layer_norm(t, norm.weight, norm.bias,
                                                     norm.eps)
            return ops_reference.channel_linear(t, weight, bias)
        if isinstance(norm, nn.LayerNorm):
            return channel_norm_linear(t, weight, bias, norm.weight,
                                       norm.bias, norm.eps)
        return channel_linear(t, weight, bias)

    @staticmethod
    def _normed(t: Tensor, norm: nn.LayerNorm) -> Tensor:
        """SAPA-I's parameter-free LayerNorm over channels."""
        return ops_reference.channel_layer_norm(t, None, None, norm.eps)

    def extra_repr(self) -> str:
        s = (f'variant={self.variant!r}, in_channels={self.in_channels}, '
             f'guide_channels={self.guide_channels}, '
             f'kernel_size={self.kernel_size}')
        if self.variant != 'I':
            s += (f', embedding_dim={self.embedding_dim}, '
                  f'qkv_bias={self.qkv_bias}')
        return s + f', norm={self.norm}'


def _variant(variant: str):
    """A SAPA subclass with the variant fixed, registered as 'SAPA-<v>'."""

    class Variant(SAPA):

        def __init__(self, in_channels: int, **kwargs) -> None:
            if 'variant' in kwargs:
                raise TypeError(f'SAPA-{variant} fixes variant={variant!r}; '
                                f"use type='SAPA' to choose it")
            super().__init__(in_channels, variant=variant, **kwargs)

    Variant.__name__ = Variant.__qualname__ = f'SAPA{variant}'
    Variant.__doc__ = f'SAPA with ``variant={variant!r}``; see :class:`SAPA`.'
    MODELS.register_module(name=f'SAPA-{variant}', module=Variant)
    return Variant


SAPAI = _variant('I')
SAPAB = _variant('B')
SAPAG = _variant('G')
