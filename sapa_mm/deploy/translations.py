"""ONNX translations of the ``sapa_mm::*`` inference ops, in ONNX Script.

``torch.onnx.export(..., dynamo=True)`` captures the ``sapa_mm`` ops as
single nodes and then looks each one up in its registry of ONNX functions,
which it fills from ONNX Script's torch_lib registry on every export. The
functions below are registered there (``torch_op``, as torch_lib registers
the torchvision ops), so that an export after ``import sapa_mm`` needs no
argument: every ``sapa_mm`` node becomes a subgraph of standard ONNX
operators (default domain, opset 18). :data:`TRANSLATIONS` holds the same
functions keyed by op, for ``custom_translation_table=``.

The window ops are traced, with the kernel size a Python int, so that each
of the K*K taps is its own small subgraph:

* the source row of output row i is floor(i * h / H), computed as int64
  ``Range(0, H) * h / H`` (integer division, exact for every size; a float
  ``Resize`` can round the wrong way), likewise for columns;
* the low-res map is zero-padded by K // 2 and each tap (dy, dx) gathers
  rows ``src_rows + dy`` then columns ``src_cols + dx``: one (B, C, H, W)
  tensor per tap, which is weighted and added to the running sum (or, for
  the similarity, multiplied with the queries and summed over channels), so
  no tensor of K*K*C*H*W elements exists;
* the softmax is over the K*K similarity channels.
"""
import torch
from onnxscript import ir
from onnxscript.function_libs.torch_lib.registration import torch_op
from onnxscript.onnx_opset import opset18 as op  # the exporter's lowest

# library defines the sapa_mm ops on import.
from ..ops import library  # noqa: F401


def _source_index(out_size, in_size):
    """floor(i * in_size / out_size) for i in [0, out_size), int64: the
    low-res index each output index reads (both sizes 1-D int64 [n])."""
    out_len = op.Squeeze(out_size)
    index = op.Range(op.Constant(value_int=0), out_len,
                     op.Constant(value_int=1))
    return op.Div(op.Mul(index, in_size), out_size)


def _dims(t, start: int, end: int):
    return op.Shape(t, start=start, end=end)


def _padded(x, radius: int):
    """x (B, C, h, w) zero-padded by ``radius`` on both spatial axes."""
    if radius == 0:
        return x
    r = radius
    return op.Pad(x, op.Constant(value_ints=[0, 0, r, r, 0, 0, r, r]))


def _taps(x, out_like, kernel_size: int):
    """Yields (tap, window value) for each of the K*K taps: the (B, C, H, W)
    values of x (B, C, h, w) at the tap's offset from each output point's
    source (floor(i * h / H), floor(j * w / W)) of ``out_like``'s (H, W),
    zero outside x."""
    rows = _source_index(_dims(out_like, 2, 3), _dims(x, 2, 3))
    cols = _source_index(_dims(out_like, 3, 4), _dims(x, 3, 4))
    padded = _padded(x, kernel_size // 2)
    for dy in range(kernel_size):
        row_values = op.Gather(
            padded, op.Add(rows, op.Constant(value_int=dy)), axis=2)
        for dx in range(kernel_size):
            yield dy * kernel_size + dx, op.Gather(
                row_values, op.Add(cols, op.Constant(value_int=dx)), axis=3)


def _channel(t, index: int):
    """Channel ``index`` of (B, N, H, W) t as (B, 1, H, W)."""
    return op.Slice(t, op.Constant(value_ints=[index]),
                    op.Constant(value_ints=[index + 1]),
                    op.Constant(value_ints=[1]))


def _similarity(query, key, kernel_size: int):
    taps = []
    for _, window in _taps(key, query, kernel_size):
        taps.append(
            op.ReduceSum(op.Mul(query, window), op.Constant(value_ints=[1]),
                         keepdims=1))
    return taps[0] if len(taps) == 1 else op.Concat(*taps, axis=1)


@torch_op('sapa_mm::similarity', trace_only=True)
def similarity(query, key, kernel_size: int):
    """sapa_mm::similarity(Tensor query, Tensor key, int kernel_size):
    (B, K*K, H, W) window dot products."""
    return _similarity(query, key, kernel_size)


@torch_op('sapa_mm::similarity_softmax', trace_only=True)
def similarity_softmax(query, key, kernel_size: int):
    """sapa_mm::similarity_softmax: the similarities softmaxed over the K*K
    taps."""
    return op.Softmax(_similarity(query, key, kernel_size), axis=1)


@torch_op('sapa_mm::aggregate', trace_only=True)
def aggregate(weights, value, kernel_size: int):
    """sapa_mm::aggregate(Tensor weights, Tensor value, int kernel_size):
    (B, C, H, W) sums of the window values weighted by the K*K weights."""
    weights = op.CastLike(weights, value)
    out = None
    for tap, window in _taps(value, weights, kernel_size):
        term = op.Mul(_channel(weights, tap), window)
        out = term if out is None else op.Add(out, term)
    return out


def _accumulation_type(x) -> int:
    """The dtype of the statistics: float64 for float64 x, else float32."""
    if x.dtype == ir.DataType.DOUBLE:
        return ir.DataType.DOUBLE
    return ir.DataType.FLOAT


def _stats(x, eps: float):
    acc = _accumulation_type(x)
    x = op.Cast(x, to=acc)
    channels = op.Constant(value_ints=[1])
    mean = op.ReduceMean(x, channels, keepdims=1)
    centred = op.Sub(x, mean)
    var = op.ReduceMean(op.Mul(centred, centred), channels, keepdims=0)
    eps = op.CastLike(op.Constant(value_float=eps), var)
    rstd = op.Reciprocal(op.Sqrt(op.Add(var, eps)))
    return op.Squeeze(mean, channels), rstd


@torch_op('sapa_mm::channel_stats', trace_only=True)
def channel_stats(x, eps: float):
    """sapa_mm::channel_stats(Tensor x, float eps) -> (mean, rstd): the
    (B, H, W) statistics of a LayerNorm over the channels."""
    return _stats(x, eps)


@torch_op('sapa_mm::channel_stats_linear', trace_only=True)
def channel_stats_linear(x, weight, eps: float):
    """sapa_mm::channel_stats_linear(Tensor x, Tensor weight, float eps) ->
    (weight applied over the channels of x, mean, rstd); the projection is a
    1x1 Conv."""
    kernel = op.Unsqueeze(op.CastLike(weight, x), op.Constant(
        value_ints=[2, 3]))
    mean, rstd = _stats(x, eps)
    return op.Conv(x, kernel), mean, rstd


#: Each translated op and its ONNX function, e.g. for
#: ``torch.onnx.export(..., custom_translation_table=TRANSLATIONS)``.
TRANSLATIONS = {
    torch.ops.sapa_mm.similarity.default: similarity,
    torch.ops.sapa_mm.similarity_softmax.default: similarity_softmax,
    torch.ops.sapa_mm.aggregate.default: aggregate,
    torch.ops.sapa_mm.channel_stats.default: channel_stats,
    torch.ops.sapa_mm.channel_stats_linear.default: channel_stats_linear,
}
