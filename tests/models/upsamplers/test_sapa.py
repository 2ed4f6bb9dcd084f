"""sapa_mm.models.upsamplers.sapa: SAPA-I/B/G, their parameters, their
registration for mmcv's build_upsample_layer, the kernels against the
reference backend (which runs no sapa_mm op), torch.compile, the released
gate query, and low precision."""
import pytest
import torch

pytest.importorskip('mmcv.ops')
from mmcv.cnn import build_upsample_layer  # noqa: E402
from mmengine.registry import MODELS  # noqa: E402

from sapa_mm.models import SAPA  # noqa: E402
from sapa_mm.ops import reference  # noqa: E402


@pytest.mark.parametrize('variant, expected', [('I', 0), ('B', 17472),
                                               ('G', 17472 + 8224 + 257)])
def test_parameter_counts(variant, expected, n_params):
    # The paper's accounting: SAPA-B, C=256, d=32 -> 17,472; SAPA-I -> 0.
    # SAPA-G adds the released gate code's W_x (256*32+32) and gate (256+1).
    assert n_params(SAPA(256, variant=variant)) == expected


@pytest.mark.parametrize('type_, variant', [('SAPA-I', 'I'), ('SAPA-B', 'B'),
                                            ('SAPA-G', 'G'), ('SAPA', 'B')])
def test_build_upsample_layer(type_, variant):
    layer = build_upsample_layer(dict(type=type_, kernel_size=3),
                                 in_channels=8)
    assert isinstance(layer, SAPA) and layer.variant == variant
    assert layer.kernel_size == 3
    x, guide = torch.randn(2, 8, 5, 6), torch.randn(2, 8, 10, 12)
    assert layer(x, guide).shape == (2, 8, 10, 12)
    assert f"variant='{variant}'" in repr(layer)
    assert MODELS.get(type_) is type(layer)


def test_sapa_variant_fixed_by_type():
    with pytest.raises(TypeError, match="type='SAPA'"):
        MODELS.build(dict(type='SAPA-B', in_channels=4, variant='G'))


@pytest.mark.parametrize('variant', ['I', 'B', 'G'])
@pytest.mark.parametrize('h,w,H,W', [(4, 6, 8, 12), (86, 64, 171, 128),
                                     (1, 1, 2, 2), (3, 5, 3, 5)])
def test_sapa_matches_reference(device, variant, h, w, H, W):
    layer = SAPA(16, 16, variant=variant).to(device)
    x = torch.randn(2, 16, h, w, device=device, requires_grad=True)
    guide = torch.randn(2, 16, H, W, device=device, requires_grad=True)
    out = layer(x, guide)
    layer.backend = 'reference'
    expected = layer(x, guide)
    assert out.shape == (2, 16, H, W)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    got = torch.autograd.grad(out.sum(), [x, guide, *layer.parameters()])
    want = torch.autograd.grad(expected.sum(),
                               [x, guide, *layer.parameters()])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.usefixtures('needs_ext')
@pytest.mark.parametrize('variant', ['I', 'B', 'G'])
@pytest.mark.parametrize('h,w,H,W', [(4, 6, 8, 12), (5, 6, 11, 13)])
def test_reference_backend_runs_no_sapa_mm_op(variant, h, w, H, W,
                                              sapa_mm_ops):
    """backend='reference' is the oracle: forward and backward dispatch no
    sapa_mm op (folded LayerNorms, projections, gate and window ops
    included), and give the extension's results; the extension's forward
    and backward are the sapa_mm ops."""
    layer = SAPA(16, 12, variant=variant) if variant != 'I' else SAPA(16)
    layer.double()
    for p in layer.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x = torch.randn(2, 16, h, w, dtype=torch.float64, requires_grad=True)
    guide = torch.randn(2, layer.guide_channels, H, W, dtype=torch.float64,
                        requires_grad=True)
    grad = torch.randn(2, 16, H, W, dtype=torch.float64)
    results = {}
    for backend in ('reference', 'extension'):
        layer.backend = backend
        with sapa_mm_ops() as seen:
            out = layer(x, guide)
            grads = torch.autograd.grad(out, [x, guide, *layer.parameters()],
                                        grad)
        results[backend] = (out, *grads), seen
    (want, seen_reference), (got, seen_extension) = results.values()
    assert seen_reference == []
    assert 'sapa_mm::aggregate' in seen_extension
    assert 'sapa_mm::aggregate_backward' in seen_extension
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('variant', ['I', 'B', 'G'])
def test_sapa_compiles_forward_and_backward(variant):
    """torch.compile traces the folded LayerNorms, including the in-place
    channel_norm_backward_ of their backward (functionalised by
    AOTAutograd), and matches eager."""
    layer = SAPA(16, variant=variant)
    x = torch.randn(2, 16, 5, 6, requires_grad=True)
    guide = torch.randn(2, 16, 10, 12, requires_grad=True)
    expected = layer(x, guide)
    want = torch.autograd.grad(expected.sum(), (x, guide))
    compiled = torch.compile(layer, backend='aot_eager')
    out = compiled(x, guide)
    got = torch.autograd.grad(out.sum(), (x, guide))
    torch.testing.assert_close(out, expected)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_sapa_g_is_the_released_gate_query():
    """SAPA-G's query: g W_y LN(y) + (1-g) W_x up(x), g = up(sigmoid(W_g
    LN(x))), up() nearest (i // 2), as in the authors' 'gate' mode."""
    layer = SAPA(6, 5, variant='G', kernel_size=3)
    for p in layer.parameters():
        torch.nn.init.normal_(p)
    x, guide = torch.randn(1, 6, 3, 4), torch.randn(1, 5, 6, 8)
    xl, yl = x.permute(0, 2, 3, 1), guide.permute(0, 2, 3, 1)

    def up(t):
        return t.repeat_interleave(2, 1).repeat_interleave(2, 2)

    gate = up(torch.sigmoid(layer.gate(layer.norm_x(xl))))
    query = gate * layer.q(layer.norm_guide(yl)) + (1 - gate) * layer.q_x(
        up(xl))
    key = layer.k(layer.norm_x(xl))
    expected = reference.sapa(
        query.permute(0, 3, 1, 2), key.permute(0, 3, 1, 2), x, 3)
    torch.testing.assert_close(layer(x, guide), expected)


def test_sapa_i_is_layer_norm_of_both():
    """SAPA-I scales the similarities by the guide's rstd instead of
    normalising the guide; forward and gradients equal the literal
    LN(guide) . LN(x) (a guide with a mean far from 0)."""
    layer = SAPA(8, variant='I').double()
    x = torch.randn(2, 8, 3, 5, dtype=torch.float64, requires_grad=True)
    guide = torch.randn(2, 8, 6, 9, dtype=torch.float64) * 3 + 5
    guide.requires_grad_()
    ln = torch.nn.functional.layer_norm
    expected = reference.sapa(
        ln(guide.permute(0, 2, 3, 1), (8, )).permute(0, 3, 1, 2),
        ln(x.permute(0, 2, 3, 1), (8, )).permute(0, 3, 1, 2), x, 5)
    out = layer(x, guide)
    torch.testing.assert_close(out, expected)
    grad = torch.randn_like(expected)
    for a, b in zip(torch.autograd.grad(out, (x, guide), grad),
                    torch.autograd.grad(expected, (x, guide), grad)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    'kwargs, match',
    [(dict(in_channels=8, guide_channels=4, variant='I'),
      'guide_channels == in_channels'),
     (dict(in_channels=8, variant='X'), 'variant must be one of'),
     (dict(in_channels=8, kernel_size=4), 'odd and positive'),
     (dict(in_channels=0), 'in_channels must be a positive int')])
def test_sapa_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SAPA(**kwargs)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_sapa_low_precision_and_autocast(dtype):
    layer = SAPA(16, variant='B')
    x, guide = torch.randn(2, 16, 5, 5), torch.randn(2, 16, 9, 10)
    expected = layer(x, guide)
    out = layer.to(dtype)(x.to(dtype), guide.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), expected, atol=5e-2, rtol=5e-2)
    if dtype == torch.bfloat16:
        layer.float()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = layer(x, guide)
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.float(), expected, atol=5e-2,
                                   rtol=5e-2)


def test_sapa_mixed_input_dtypes_under_autocast():
    """Under autocast x and the guide may differ in dtype (a bf16 conv
    output, a float32 skip feature): SAPA computes in autocast's dtype."""
    layer = SAPA(8, variant='B')
    x, guide = torch.randn(1, 8, 3, 4), torch.randn(1, 8, 6, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = layer(x.bfloat16(), guide)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), layer(x, guide), atol=5e-2,
                               rtol=5e-2)
