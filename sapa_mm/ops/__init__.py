"""SAPA operators: ``similarity``, ``aggregate`` and ``sapa``, backed by the
compiled ``sapa_mm._ext`` kernels (CPU, CUDA) or the pure-PyTorch reference,
and the channel projections that make SAPA's queries and keys. Importable
with torch alone."""
from . import library, reference
from .extension import EXT_HAS_CUDA, HAS_EXT
from .functional import BACKENDS, aggregate, sapa, similarity
from .projection import channel_linear, channel_norm_linear, channel_rstd

__all__ = [
    'BACKENDS', 'EXT_HAS_CUDA', 'HAS_EXT', 'aggregate', 'channel_linear',
    'channel_norm_linear', 'channel_rstd', 'library', 'reference', 'sapa',
    'similarity'
]
