"""sapa_mm.analysis.complexity: FLOPs with the paper's accounting (the
baselines' counts as their docstrings derive them; mmengine's counter sees
the sapa_mm ops by name), trainable parameters, and the paper's cells."""
import pytest
import torch

pytest.importorskip('mmengine')
from sapa_mm.analysis import (  # noqa: E402
    count_flops,
    count_parameters,
    format_cell,
    format_table,
)
from sapa_mm.models import A2U, SAPA, IndexNet  # noqa: E402


def test_baseline_flops_as_derived():
    """count_flops gives the docstrings' counts (C != Cg, so that every
    term is checked): IndexNet hw (32 Cg^2 + 8 Cg + 4 C), A2U
    hw (2 k^2 Cg + Cg + 4 s^2 + 4 s^2 C) + Cg (4 s^2 + 2 k^2), with (h, w) the
    guide's even size halved."""
    C, Cg, s, k = 64, 128, 3, 6
    x, guide = torch.randn(1, C, 8, 10), torch.randn(1, Cg, 15, 20)
    hw = 8 * 10
    with torch.no_grad():
        assert count_flops(IndexNet(C, Cg).eval(), (x, guide)) == hw * (
            32 * Cg**2 + 8 * Cg + 4 * C)
        assert count_flops(A2U(C, Cg).eval(), (x, guide)) == hw * (
            2 * k * k * Cg + Cg + 4 * s * s + 4 * s * s * C) + Cg * (
                4 * s * s + 2 * k * k)
        # IndexNet matting's depthwise M2O block, hidden width r Cg.
        r = 2
        m2o = IndexNet(C, Cg, index_block='depthwise_m2o', hidden_ratio=r)
        assert count_flops(m2o.eval(), (x, guide)) == hw * (
            4 * (16 * Cg * r * Cg + r * Cg * C) + 4 * C)
    # C = Cg = 256: the per-point counts behind the paper's columns.
    assert 32 * 256**2 + 8 * 256 + 4 * 256 == 2100224
    assert 2 * 36 * 256 + 256 + 36 + 36 * 256 == 27940


def test_flop_analyzer_sees_the_named_ops():
    """mmengine's FlopAnalyzer traces the custom ops by name, so op handles
    can give them FLOPs."""
    from mmengine.analysis import FlopAnalyzer
    layer = SAPA(16, variant='B')
    inputs = (torch.randn(1, 16, 8, 8), torch.randn(1, 16, 16, 16))
    analyzer = FlopAnalyzer(layer, inputs)
    analyzer.total()
    assert {'sapa_mm::similarity_softmax', 'sapa_mm::aggregate',
            'prim::PythonOp._NormLinear'} <= set(analyzer.unsupported_ops())
    analyzer = FlopAnalyzer(layer, inputs).set_op_handle(
        'sapa_mm::similarity_softmax', lambda inputs, outputs: 7,
        'sapa_mm::aggregate', lambda inputs, outputs: 11)
    assert analyzer.by_operator()['similarity_softmax'] == 7
    assert analyzer.by_operator()['aggregate'] == 11


def test_count_parameters_leaves_frozen_ones_out():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    assert count_parameters(model) == 4 * 3 + 3 + 3 * 2 + 2
    model[0].requires_grad_(False)
    assert count_parameters(model) == 3 * 2 + 2


def test_cells_and_table_as_the_paper_prints_them():
    assert format_cell(15_960_000_000, None, 1e9, 2, True) == '15.96'
    assert format_cell(13_820_000, 13_720_000, 1e6, 2, False) == '+0.10'
    assert format_cell(13_720_000, 13_720_000, 1e6, 2, False) == '+0.00'
    assert format_cell(None, 1.0, 1e6, 2, False) == '-'
    assert format_cell(2.0, None, 1e6, 2, False) == '-'
    table = format_table(
        ['base', 'other', 'unmeasured'],
        [dict(flops=2_000_000_000, params=3_000_000),
         dict(flops=2_500_000_000, params=3_010_000),
         dict(flops=None, params=3_000_000)])
    assert table.splitlines() == [
        '| model | FLOPs (G) | Params (M) |', '| --- | --- | --- |',
        '| base | 2.00 | 3.00 |', '| other | +0.50 | +0.01 |',
        '| unmeasured | - | +0.00 |']
