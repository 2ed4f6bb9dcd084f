"""ONNX export with the checks a deployment needs: every op of the model
has an ONNX translation (or the error names those that do not), and the
graph holds standard ONNX operators only, at an opset that TensorRT 10's
parser and ONNX Runtime accept."""
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import onnx
import torch
from onnxscript.function_libs.torch_lib import registration
from torch import nn

from . import translations  # noqa: F401  (registers the sapa_mm ops)

#: Default-domain opsets the exported graphs may use (TensorRT 10 parses
#: 9-20).
OPSETS = range(17, 21)
#: Namespaces whose ops the exporter decomposes or translates itself.
_CORE_NAMESPACES = ('aten', 'prims')


def _has_translation(op: torch._ops.OpOverload) -> bool:
    # name(): 'ns::op' for the default overload, else 'ns::op.overload',
    # as the registry's keys.
    return op.name() in registration.default_registry


def untranslated_ops(program: torch.export.ExportedProgram) -> List[str]:
    """The qualified names of the ops in ``program`` (outside aten and prims)
    that have no ONNX translation, sorted."""
    # torch_lib's own ops fill the rest of the registry (as the exporter
    # does when it reads it); imported here, not at ``import sapa_mm``.
    from onnxscript.function_libs.torch_lib import ops  # noqa: F401
    missing = set()
    for module in program.graph_module.modules():
        if not isinstance(module, torch.fx.GraphModule):
            continue
        for node in module.graph.nodes:
            target = node.target
            if node.op != 'call_function' or not isinstance(
                    target, torch._ops.OpOverload):
                continue
            if target.namespace in _CORE_NAMESPACES:
                continue
            if not _has_translation(target):
                missing.add(target.name())
    return sorted(missing)


def _nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """The nodes of graph and of its subgraphs (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _nodes(attr.g)
            for sub in attr.graphs:
                yield from _nodes(sub)


def check_standard_onnx(model: onnx.ModelProto) -> None:
    """Raises a ValueError unless every node of ``model`` (subgraphs
    included) is a standard ONNX operator (the default domain), the model
    has no local functions, and its default-domain opset is in
    :data:`OPSETS`."""
    custom = sorted({(n.domain, n.op_type)
                     for n in _nodes(model.graph) if n.domain not in (
                         '', 'ai.onnx')})
    if custom:
        raise ValueError(
            f'the ONNX graph has nodes outside the default domain, which '
            f'ONNX Runtime, TensorRT and mmdeploy may not implement: '
            f'{", ".join(f"{d}::{t}" for d, t in custom)}')
    if len(model.functions):
        raise ValueError(
            f'the ONNX model has local functions '
            f'{[f.name for f in model.functions]}; export with '
            f'optimize=True to inline them')
    opset = {o.domain: o.version for o in model.opset_import}.get('')
    if opset not in OPSETS:
        raise ValueError(f'the ONNX model uses opset {opset}; TensorRT 10 '
                         f'and this check expect one of {list(OPSETS)}')


def export_onnx(model: nn.Module,
                args: Sequence[Any],
                f: Optional[Union[str, os.PathLike]] = None,
                *,
                kwargs: Optional[Dict[str, Any]] = None,
                dynamic_shapes: Any = None,
                opset_version: Optional[int] = None,
                **export_kwargs) -> 'torch.onnx.ONNXProgram':
    """``torch.onnx.export(model, args, f, dynamo=True)`` with checks:
    ``torch.export`` captures the model, every op outside aten must have an
    ONNX translation (``sapa_mm``'s have, from :mod:`.translations`), and
    the result must pass :func:`check_standard_onnx` before it is saved.

    Args:
        model: the module, in the mode to export (``model.eval()`` for
            inference).
        args: its positional inputs.
        f: where to save the ``.onnx`` file; None keeps it in memory.
        kwargs: its keyword inputs.
        dynamic_shapes: as in ``torch.export.export``, e.g.
            ``{'x': {0: Dim.AUTO}}``.
        opset_version: the default-domain opset; None for the exporter's.
        **export_kwargs: passed to ``torch.onnx.export`` (e.g.
            ``input_names``, ``output_names``).

    Returns:
        The ``torch.onnx.ONNXProgram`` (``.model_proto``, ``.save``).

    Raises:
        NotImplementedError: ops of the model have no ONNX translation; the
            message names them.
        ValueError: the graph is not standard ONNX (see
            :func:`check_standard_onnx`).
    """
    program = torch.export.export(
        model, tuple(args), kwargs=kwargs, dynamic_shapes=dynamic_shapes,
        strict=False)
    missing = untranslated_ops(program)
    if missing:
        raise NotImplementedError(
            f'{type(model).__name__} cannot be exported to ONNX: no ONNX '
            f'translation for {", ".join(missing)}. sapa_mm translates '
            f'{sorted(op.name() for op in translations.TRANSLATIONS)} (the '
            f'inference ops: export the model in eval mode, without '
            f'gradients); for another op, write an ONNX Script function '
            f'and pass it as torch.onnx.export(..., custom_translation_table='
            f'{{op: function}}).')
    onnx_program = torch.onnx.export(program, (), dynamo=True,
                                     opset_version=opset_version,
                                     **export_kwargs)
    check_standard_onnx(onnx_program.model_proto)
    if f is not None:
        onnx_program.save(os.fspath(f))
    return onnx_program
