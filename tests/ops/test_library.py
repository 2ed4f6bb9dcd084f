"""sapa_mm.ops.library, the sapa_mm::* torch ops: their schemas agree with
the extension's, they dispatch and trace by name (forward and backward),
their kernels check direct callers' inputs, and the softmax of the
similarities holds over the whole float range."""
import pytest
import torch

from sapa_mm.ops import reference, sapa
from sapa_mm.ops.library import SCHEMAS


def test_schemas_match_the_extension():
    for name, schema in SCHEMAS.items():
        op = getattr(torch.ops.sapa_mm, name).default
        assert str(op._schema) == f'sapa_mm::{name}{schema}'


def test_sapa_dispatches_the_named_ops(sapa_mm_ops, make_inputs):
    """sapa() forward and backward are the named ops, the gradients of the
    inputs that need one only."""
    q, k, v, _ = make_inputs(1, 4, 4, 3, 4, 6, 8, 3)
    q.requires_grad_(), v.requires_grad_()
    with sapa_mm_ops() as seen:
        sapa(q, k, v, 3).sum().backward()
    assert seen == ['sapa_mm::similarity_softmax', 'sapa_mm::aggregate',
                    'sapa_mm::aggregate_backward',
                    'sapa_mm::similarity_softmax_backward']


def test_torch_compile_traces_the_named_ops(make_inputs):
    q, k, v, _ = make_inputs(1, 4, 4, 3, 4, 6, 8, 3)
    seen = []

    def backend(gm, example_inputs):
        seen.extend(str(n.target) for n in gm.graph.nodes)
        return gm.forward

    compiled = torch.compile(lambda a, b, c: sapa(a, b, c, 3),
                             backend=backend, fullgraph=True)
    torch.testing.assert_close(compiled(q, k, v), reference.sapa(q, k, v, 3))
    assert 'sapa_mm.similarity_softmax' in seen
    assert 'sapa_mm.aggregate' in seen


@pytest.mark.usefixtures('needs_ext')
def test_kernel_checks_guard_direct_op_calls():
    """The C++ ops check their inputs too, for callers of torch.ops."""
    ops_ = torch.ops.sapa_mm
    q = torch.randn(1, 3, 4, 4)
    with pytest.raises(RuntimeError, match='at least as large'):
        ops_.similarity(q[:, :, :2, :2], q, 3)
    with pytest.raises(RuntimeError, match='channels differ'):
        ops_.similarity(q, q[:, :2, :2, :2], 3)
    with pytest.raises(RuntimeError, match='odd and positive'):
        ops_.similarity(q, q, 2)
    with pytest.raises(RuntimeError, match='grad must have shape'):
        ops_.aggregate_backward(q[:, :2], torch.randn(1, 9, 4, 4),
                                q[:, :, :2, :2], 3, [True, True])
    with pytest.raises(RuntimeError, match='4-D'):
        ops_.channel_stats(q[0], 1e-5)
    mean, rstd = ops_.channel_stats(q, 1e-5)
    with pytest.raises(RuntimeError, match='rstd must have shape'):
        ops_.channel_norm_backward_(q.clone(), q, mean, rstd[:, :2])
    with pytest.raises(RuntimeError, match='mean must be Float'):
        ops_.channel_norm_backward_(q.clone(), q, mean.double(), rstd)
    with pytest.raises(RuntimeError, match=r'weight must be \(D, 3\)'):
        ops_.channel_stats_linear(q, torch.randn(2, 4), 1e-5)
    with pytest.raises(RuntimeError, match='float32 or float64'):
        ops_.channel_stats_linear(q.half(), torch.randn(2, 3), 1e-5)
    with pytest.raises(RuntimeError, match='grad must have shape'):
        ops_.channel_linear_norm_backward(q[:, :2, :2], torch.randn(2, 3), q,
                                          mean, rstd)


def test_similarity_softmax_extreme_values(device, make_inputs):
    """The kernels' exp over the whole float range: weights to 1e-6 of
    ATen's softmax where similarities span hundreds (many underflow to 0),
    and a NaN query makes its own points' weights NaN only."""
    K = 5
    q, k, _, _ = make_inputs(2, 16, 1, 6, 7, 12, 14, K, device=device)
    q = q * 8
    q[1, :, 3, 5] = float('nan')
    got = torch.ops.sapa_mm.similarity_softmax(q, k, K)
    sim = reference.similarity(q.double(), k.double(), K)
    finite = sim[sim.isfinite()]
    assert finite.max() - finite.min() > 200
    want = sim.softmax(1).float()
    nan = torch.zeros_like(want, dtype=torch.bool)
    nan[1, :, 3, 5] = True
    assert got[nan].isnan().all()
    torch.testing.assert_close(got[~nan], want[~nan], atol=1e-6, rtol=1e-5)
    assert (got[~nan] == 0).any()
