"""The ONNX translations of the sapa_mm ops: a plain dynamo export after
``import sapa_mm`` gives default-domain nodes only, and ONNX Runtime
matches the reference at odd sizes, non-integer ratios and K = 1..7,
without a K*K-expanded intermediate."""
import math

import pytest
import torch

pytest.importorskip('onnxscript')
pytest.importorskip('onnxruntime')
import onnx  # noqa: E402

import sapa_mm  # noqa: E402,F401  (registers the translations)
from sapa_mm.deploy import (  # noqa: E402
    TRANSLATIONS,
    check_standard_onnx,
    export_onnx,
)
from sapa_mm.ops import reference  # noqa: E402


class WindowOps(torch.nn.Module):
    """The similarities and the SAPA output of (query, key, value)."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, query, key, value):
        return (sapa_mm.similarity(query, key, self.kernel_size),
                sapa_mm.sapa(query, key, value, self.kernel_size))


def window_inputs(seed=0, size=(11, 13), low=(5, 6)):
    torch.manual_seed(seed)
    return (torch.randn(2, 4, *size), torch.randn(2, 4, *low),
            torch.randn(2, 3, *low))


def node_ops(program):
    return {(n.domain, n.op_type) for n in program.model_proto.graph.node}


@pytest.mark.parametrize('kernel_size', range(1, 8, 2))
def test_plain_export_matches_reference(kernel_size, run_onnx):
    """11x13 from 5x6 (ratios 2.2 and 2.17): rows and columns of every
    index class, zero padding at every border."""
    inputs = window_inputs()
    program = torch.onnx.export(WindowOps(kernel_size), inputs, dynamo=True,
                                verbose=False)
    check_standard_onnx(program.model_proto)
    assert {d for d, _ in node_ops(program)} == {''}
    sim, out = run_onnx(program, *inputs)
    torch.testing.assert_close(
        torch.from_numpy(sim),
        reference.similarity(*inputs[:2], kernel_size), rtol=1e-5,
        atol=1e-5)
    torch.testing.assert_close(
        torch.from_numpy(out), reference.sapa(*inputs, kernel_size),
        rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kernel_size', [3, 5])
def test_float16(kernel_size, run_onnx):
    """float16 graphs (ONNX Runtime's CPU provider has every op of them)
    against the float32 reference of the same values."""
    inputs = tuple(t.half() for t in window_inputs(4))
    program = torch.onnx.export(WindowOps(kernel_size), inputs, dynamo=True,
                                verbose=False)
    sim, out = run_onnx(program, *inputs)
    assert out.dtype.name == 'float16'
    full = tuple(t.float() for t in inputs)
    torch.testing.assert_close(
        torch.from_numpy(sim).float(),
        reference.similarity(*full[:2], kernel_size), rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(
        torch.from_numpy(out).float(), reference.sapa(*full, kernel_size),
        rtol=1e-2, atol=1e-2)


def test_index_math_is_integer(run_onnx):
    """Sizes where floor(i * h / H) and Resize's float32 i / (H / h)
    differ: the graph gathers the exact rows."""
    H, h = 24, 21
    index = torch.arange(H)
    scale = torch.tensor(H / h, dtype=torch.float32)
    assert not torch.equal(index * h // H, (index / scale).floor().long())
    inputs = window_inputs(2, (H, 5), (h, 3))
    program = torch.onnx.export(WindowOps(1), inputs, dynamo=True,
                                verbose=False)
    _, out = run_onnx(program, *inputs)
    torch.testing.assert_close(
        torch.from_numpy(out), reference.sapa(*inputs, 1), rtol=1e-5,
        atol=1e-5)


def test_no_k2_expanded_intermediate():
    """No value of the graph has K*K*C*H*W elements (the unfold trick):
    the largest is the K*K similarities or a C-channel map."""
    K, (B, C, H, W) = 5, (1, 16, 12, 14)
    inputs = (torch.randn(B, C, H, W), torch.randn(B, C, 6, 7),
              torch.randn(B, C, 6, 7))
    program = torch.onnx.export(WindowOps(K), inputs, dynamo=True,
                                verbose=False)
    model = onnx.shape_inference.infer_shapes(program.model_proto)
    sizes = []
    for info in list(model.graph.value_info) + list(model.graph.output):
        dims = info.type.tensor_type.shape.dim
        assert all(d.HasField('dim_value') for d in dims), info
        sizes.append(math.prod(d.dim_value for d in dims))
    assert len(sizes) > K * K
    # Padded maps may be a little larger than C*H*W, never K*K times.
    assert max(sizes) <= max(C, K * K) * B * H * W
    assert max(sizes) < K * K * B * C * H * W // 8


def test_dynamic_batch_and_spatial(run_onnx):
    """Exported once with every axis dynamic, run at other sizes and
    ratios."""
    dim = torch.export.Dim.AUTO
    program = torch.onnx.export(
        WindowOps(3), window_inputs(), dynamo=True, verbose=False,
        dynamic_shapes=({0: dim, 2: dim, 3: dim},) * 3)
    for size, low in [((11, 13), (5, 6)), ((8, 8), (4, 4)),
                      ((17, 10), (3, 9))]:
        inputs = window_inputs(3, size, low)
        inputs = tuple(t[:1] for t in inputs)
        sim, out = run_onnx(program, *inputs)
        torch.testing.assert_close(torch.from_numpy(out),
                                   reference.sapa(*inputs, 3), rtol=1e-5,
                                   atol=1e-5)


def test_custom_translation_table_gives_the_same_graph(run_onnx):
    """TRANSLATIONS passed explicitly (the documented exporter option)
    gives the same ops as the registration."""
    inputs = window_inputs()
    plain = torch.onnx.export(WindowOps(3), inputs, dynamo=True,
                              verbose=False)
    explicit = torch.onnx.export(WindowOps(3), inputs, dynamo=True,
                                 verbose=False,
                                 custom_translation_table=TRANSLATIONS)
    assert node_ops(plain) == node_ops(explicit)


class Untranslated(torch.nn.Module):
    """A model whose graph keeps a sapa_mm op with no translation."""

    def forward(self, grad, weights, value):
        return torch.ops.sapa_mm.aggregate_backward(grad, weights, value, 3,
                                                    [False, True])[1]


def test_export_names_the_untranslated_op():
    inputs = (torch.randn(1, 2, 4, 4), torch.randn(1, 9, 4, 4),
              torch.randn(1, 2, 2, 2))
    with pytest.raises(NotImplementedError,
                       match=r'Untranslated.*sapa_mm::aggregate_backward'):
        export_onnx(Untranslated(), inputs)


def test_check_standard_onnx_rejects_custom_domains():
    from onnx import TensorProto, helper
    node = helper.make_node('MMCVCARAFE', ['x'], ['y'], domain='mmcv')
    graph = helper.make_graph(
        [node], 'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1])])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid('', 18)])
    with pytest.raises(ValueError, match='mmcv::MMCVCARAFE'):
        check_standard_onnx(model)
    model.graph.node[0].domain = ''
    model.graph.node[0].op_type = 'Relu'
    check_standard_onnx(model)
    model.opset_import[0].version = 11
    with pytest.raises(ValueError, match='opset 11'):
        check_standard_onnx(model)
