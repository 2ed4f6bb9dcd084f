"""SAPA operators: ``similarity``, ``aggregate`` and ``sapa``, backed by the
compiled ``sapa_mm._ext`` kernels (CPU, CUDA) or the pure-PyTorch reference,
and the channel LayerNorms folded into SAPA's projections and similarity.
Importable with torch alone."""
from . import library, reference
from .channel_norm import (
                         channel_linear,
                         channel_norm,
                         channel_norm_linear,
                         channel_norm_similarity,
)
from .extension import EXT_HAS_CUDA, HAS_EXT
from .functional import BACKENDS, aggregate, nearest_upsample, sapa, similarity

__all__ = [
    'BACKENDS', 'EXT_HAS_CUDA', 'HAS_EXT', 'aggregate', 'channel_linear',
    'channel_norm', 'channel_norm_linear', 'channel_norm_similarity',
    'library', 'nearest_upsample', 'reference', 'sapa', 'similarity'
]
