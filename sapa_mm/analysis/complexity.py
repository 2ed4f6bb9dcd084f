"""FLOPs and parameters of OpenMMLab models that use sapa_mm's ops.

FLOPs are counted as the OpenMMLab counters count them (mmengine's
``FlopAnalyzer``: one multiply-accumulate is one FLOP, biases, softmax and
other element-wise ops are free), with handles for the ``sapa_mm::*`` ops,
which also carry CARAFE's reassembly off CUDA. As in the SAPA paper's
accounting, fixed interpolations (``F.interpolate``) and the LayerNorms
inside SAPA upsamplers are not counted: the paper's deltas are exactly the
similarity, the aggregation and the q/k projections (SegFormer-B1: SAPA-I
+0.75G, SAPA-B +1.02G) or CARAFE's convolutions and reassembly (+1.45G).
Inside every guided upsampler, normalisations and pooling are not counted
either, and inside IndexNet and A2U each product of two tensors counts one
FLOP per element (IndexNet's index map times the upsampled feature, A2U's
two channel-wise results): the accounting that gives the paper's IndexNet
(+30.65G) and A2U (+0.41G) deltas; see their docstrings.
Parameters are the trainable ones, as mmcv 1.x counted them (frozen
backbone stages are left out; Faster R-CNN R50-FPN: 41.53M). Models are
built without loading pretrained weights and traced on CPU.
"""
from inspect import signature
from math import prod
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import BaseDataElement
from torch import nn

from ..models import A2U, GuidedUpsampler, IndexNet


def _outputs_times_channels(inputs, outputs) -> int:
    # Every output value is a sum over the channels of the first input:
    # similarity (B, K*K, H, W) over query's D, aggregate (B, C, H, W) over
    # the K*K taps of weights, and SAPA's LayerNorm + projection (B, D, H, W)
    # or LayerNorm + similarity over x's C (the LayerNorm is not counted:
    # the paper's accounting).
    return prod(get_shape(outputs[0])) * get_shape(inputs[0])[1]


def _uncounted(inputs, outputs) -> int:
    return 0


def _tensor_product(inputs, outputs) -> int:
    # One per output element where both factors are tensors of at least one
    # dim: a product with a scalar is a scaling, and the tracer records the
    # size arithmetic of reshapes (B * C) as products of 0-dim tensors.
    if not all(get_shape(v) for v in inputs[:2]):
        return 0
    return prod(get_shape(outputs[0]))


#: FlopAnalyzer handles: the sapa_mm ops, SAPA's LayerNorm folded into its
#: projections and similarity (autograd.Functions, opaque to the tracer), and
#: fixed interpolations left uncounted, as mmcv 1.x's module-hook counter (the
#: paper's) never saw the functional F.interpolate calls. (A None handle
#: would only silence the warning: mmengine keeps its default handle.)
FLOP_HANDLES = {
    'sapa_mm::similarity': _outputs_times_channels,
    'sapa_mm::similarity_softmax': _outputs_times_channels,
    'sapa_mm::aggregate': _outputs_times_channels,
    'prim::PythonOp._NormLinear': _outputs_times_channels,
    'prim::PythonOp._NormSimilarity': _outputs_times_channels,
    'aten::upsample_nearest2d': _uncounted,
    'aten::upsample_bilinear2d': _uncounted,
    'aten::upsample_bicubic2d': _uncounted,
    # Counted inside IndexNet and A2U only (see count_flops).
    'aten::mul': _tensor_product,
}

#: Operators of mmengine's default handles that the paper leaves out inside
#: guided upsamplers: normalisations (SAPA's LayerNorms, IndexNet's
#: BatchNorm, A2U's GroupNorms) and A2U's pooling.
UNCOUNTED_IN_UPSAMPLERS = ('layer_norm', 'batch_norm', 'group_norm',
                           'adaptive_avg_pool2d')
#: Upsamplers whose tensor products are counted; elsewhere they are not
#: (the OpenMMLab counters' default, which the existing rows, SAPA-G's gate
#: included, are measured with).
COUNTS_PRODUCTS = (IndexNet, A2U)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, as mmcv 1.x's counter (and so the SAPA paper)
    counted them: frozen backbone stages are left out."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, inputs: Tuple) -> int:
    """FLOPs (multiply-accumulates) of ``model(*inputs)`` with the paper's
    accounting inside guided upsamplers: no normalisation or pooling, and
    the tensor products of IndexNet and A2U one per element."""
    analyzer = FlopAnalyzer(model, inputs).set_op_handle(**FLOP_HANDLES)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_module = analyzer.by_module_and_operator()
    total = analyzer.total() - by_module[''].get('mul', 0)
    for name, module in model.named_modules():
        if isinstance(module, GuidedUpsampler):
            counts = by_module.get(name, {})
            total -= sum(counts.get(op, 0) for op in UNCOUNTED_IN_UPSAMPLERS)
            if isinstance(module, COUNTS_PRODUCTS):
                total += counts.get('mul', 0)
    return total


class _TensorForward(nn.Module):
    """The model's tensor forward with the data samples fixed, so that the
    tracer sees a function of the image tensor alone. mmseg's
    ``EncoderDecoder._forward`` does not pass samples to its decode head,
    which (Mask)Former heads need: they are called directly."""

    def __init__(self, model: nn.Module, data_samples: List) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples
        head = getattr(model, 'decode_head', None)
        self.head_needs_samples = head is not None and (
            'batch_data_samples' in signature(head.forward).parameters)

    def forward(self, inputs: torch.Tensor):
        if self.head_needs_samples:
            feats = self.model.extract_feat(inputs)
            return self.model.decode_head(feats, self.data_samples)
        return self.model._forward(inputs, self.data_samples)


def build_model(config: Config) -> nn.Module:
    """The config's model, built in its default scope, without pretrained
    weights (``init_weights`` is not called)."""
    init_default_scope(config.get('default_scope', 'mmengine'))
    return MODELS.build(config.model).eval()


def _data_samples(config: Config, shape: Tuple[int, int]) -> List:
    scope = config.get('default_scope')
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample as Sample
    elif scope == 'mmseg':
        from mmseg.structures import SegDataSample as Sample
    else:
        Sample = BaseDataElement
    meta = dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                batch_input_shape=shape, scale_factor=(1.0, 1.0))
    return [Sample(metainfo=meta)]


def model_complexity(
        config: Config,
        shape: Tuple[int, int],
        with_flops: bool = True,
        progress: Optional[Callable[[int], None]] = None
) -> Dict[str, Optional[int]]:
    """FLOPs and parameters of ``config``'s model for one (H, W) image, and
    the image's channels (the model's ``input_channels``, 3 by default: RGB,
    or e.g. RGB and trimap).

    ``progress``, if given, is called with the number of modules the FLOPs
    trace has run so far (a trace of a large model at full size takes
    minutes on a CPU).
    """
    model = build_model(config)
    channels = getattr(model, 'input_channels', 3)
    flops = None
    if with_flops:
        wrapped = _TensorForward(model, _data_samples(config, shape))
        handles = []
        if progress is not None:
            traced = set()

            def count(module, args, output):
                traced.add(id(module))
                progress(len(traced))

            handles = [m.register_forward_hook(count) for m in model.modules()]
        try:
            with torch.no_grad():
                flops = count_flops(wrapped,
                                    (torch.zeros(1, channels, *shape), ))
        finally:
            for handle in handles:
                handle.remove()
    return dict(flops=flops, params=count_parameters(model),
                input_channels=channels)


def format_cell(value: Optional[float], base_value: Optional[float],
                scale: float, digits: int, absolute: bool) -> str:
    """One FLOPs/Params cell as the paper prints it: ``value / scale``
    for the baseline (``absolute``), "+x.xx" relative to ``base_value``
    otherwise, '-' where a number is missing."""
    if value is None or (not absolute and base_value is None):
        return '-'
    if absolute:
        return f'{value / scale:.{digits}f}'
    return f'{(value - base_value) / scale:+.{digits}f}'


def format_table(names: Sequence[str], results: Sequence[Dict],
                 flops_digits: int = 2, params_digits: int = 2) -> str:
    """A markdown table as the paper prints them: the first row
    absolute (GFLOPs, M parameters), the others as "+x.xx" deltas."""
    rows = ['| model | FLOPs (G) | Params (M) |', '| --- | --- | --- |']
    base = results[0]

    for i, (name, result) in enumerate(zip(names, results)):
        flops = format_cell(result['flops'], base['flops'], 1e9, flops_digits,
                            i == 0)
        params = format_cell(result['params'], base['params'], 1e6,
                             params_digits, i == 0)
        rows.append(f'| {name} | {flops} | {params} |')
    return '\n'.join(rows)
