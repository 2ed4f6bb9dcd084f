"""Loading mmengine checkpoints with ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, which
refuses the checkpoints of mmengine 0.10.7 ("Weights only load failed"):
besides tensors they hold the message hub's ``HistoryBuffer``s (whose
statistics methods pickle as ``getattr(buffer, 'min')``) and numpy arrays and
scalars. Rather than turning the safety off, importing sapa_mm allow-lists
exactly those (``torch.serialization.add_safe_globals``). ``getattr`` itself
stays forbidden: the name resolves to :func:`history_buffer_getattr`, which
only returns a HistoryBuffer's registered statistics methods. Any other
global in a checkpoint is still refused.
"""
import codecs
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar


_BUILTIN_STATISTICS = {'min', 'max', 'current', 'mean'}


def history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to what HistoryBuffer pickles: its statistics
    methods (min, max, current, mean and registered ones)."""
    # The built-in statistics are only entered in _statistics_methods when
    # the first HistoryBuffer is made, which may not have happened yet.
    allowed = _BUILTIN_STATISTICS | set(HistoryBuffer._statistics_methods)
    is_buffer = obj is HistoryBuffer or isinstance(obj, HistoryBuffer)
    if is_buffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) in a checkpoint: '
        f'only HistoryBuffer statistics methods are allowed')


#: The non-tensor globals of mmengine's checkpoints.
CHECKPOINT_GLOBALS = [
    HistoryBuffer,
    np.ndarray,
    np.dtype,
    _reconstruct,
    scalar,
    codecs.encode,  # bytes of numpy arrays, pickle protocol 2
    (codecs.encode, '_codecs.encode'),
    (history_buffer_getattr, '__builtin__.getattr'),
    (history_buffer_getattr, 'builtins.getattr'),
    *{type(np.dtype(t)) for t in ('float64', 'float32', 'float16', 'int64',
                                  'int32', 'uint8', 'bool')},
]

torch.serialization.add_safe_globals(CHECKPOINT_GLOBALS)
