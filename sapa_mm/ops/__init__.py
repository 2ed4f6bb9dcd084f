"""SAPA operators: ``similarity``, ``aggregate`` and ``sapa``, backed by the
compiled ``sapa_mm._ext`` kernels (CPU, CUDA) or the pure-PyTorch reference.
Importable with torch alone."""
from . import library, reference
from .extension import EXT_HAS_CUDA, HAS_EXT
from .functional import BACKENDS, aggregate, sapa, similarity

__all__ = [
    'BACKENDS', 'EXT_HAS_CUDA', 'HAS_EXT', 'aggregate', 'library',
    'reference', 'sapa', 'similarity'
]
