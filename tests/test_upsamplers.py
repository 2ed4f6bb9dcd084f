"""The upsampler modules: SAPA-I/B/G, the guided interface, CARAFE on CPU,
IndexNet and A2U, and their registration for mmcv's build_upsample_layer."""
import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES

pytest.importorskip('mmcv.ops')
from mmcv.cnn import build_upsample_layer  # noqa: E402
from mmengine.registry import MODELS  # noqa: E402

from sapa_mm.complexity import count_flops  # noqa: E402
from sapa_mm.models import (A2U, SAPA, GuidedCARAFE,  # noqa: E402
                            GuidedResize, IndexNet, build_guided_upsampler,
                            init_guided_upsamplers)
from sapa_mm.ops import reference  # noqa: E402
from sapa_mm.ops.carafe import carafe_reassemble  # noqa: E402


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('variant, expected', [('I', 0), ('B', 17472),
                                               ('G', 17472 + 8224 + 257)])
def test_parameter_counts(variant, expected):
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


@pytest.mark.parametrize('device', DEVICES)
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


@pytest.mark.parametrize('build', [
    lambda: SAPA(8, 4), lambda: IndexNet(8, 4),
    lambda: A2U(8, 4, norm_groups=2)
], ids=['SAPA', 'IndexNet', 'A2U'])
def test_forward_errors(build):
    layer = build()
    x, guide = torch.randn(2, 8, 4, 4), torch.randn(2, 4, 8, 8)
    with pytest.raises(ValueError, match=r'x must have 8 channels .*\(2, 6'):
        layer(x[:, :6], guide)
    with pytest.raises(ValueError, match='guide must have 4 channels'):
        layer(x, guide[:, :3])
    with pytest.raises(ValueError, match='at least'):
        layer(x, guide[..., :3])
    with pytest.raises(ValueError, match='batch sizes differ'):
        layer(x, guide[:1])
    with pytest.raises(ValueError, match=r'must be 4-D .*guide.shape=\(4,'):
        layer(x, guide[0])
    with pytest.raises(TypeError, match='floating point'):
        layer(x.long(), guide)


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


# --- the guided interface --------------------------------------------------


@pytest.mark.parametrize('cfg, cls', [
    (dict(type='nearest'), GuidedResize),
    (dict(type='bilinear', align_corners=True), GuidedResize),
    (dict(type='carafe'), GuidedCARAFE),
    (dict(type='SAPA-I'), SAPA),
    (dict(type='SAPA-B', embedding_dim=16), SAPA),
    (dict(type='SAPA-G'), SAPA),
    (dict(type=SAPA, variant='G'), SAPA),
    (dict(type='IndexNet'), IndexNet),
    (dict(type='A2U', norm_groups=8), A2U),
])
def test_build_guided_upsampler(cfg, cls):
    layer = build_guided_upsampler(cfg, in_channels=16, guide_channels=16)
    assert isinstance(layer, cls)
    x = torch.randn(2, 16, 43, 32, requires_grad=True)
    guide = torch.randn(2, 16, 85, 64)  # odd size, as in mmseg's test mode
    out = layer(x, guide)
    assert out.shape == (2, 16, 85, 64)
    out.sum().backward()
    assert x.grad is not None


def test_guided_resize_matches_interpolate():
    x, guide = torch.randn(1, 3, 5, 7), torch.randn(1, 2, 11, 13)
    for mode in ('nearest', 'bilinear'):
        layer = build_guided_upsampler(dict(type=mode), 3, 2)
        kwargs = {} if mode == 'nearest' else dict(align_corners=False)
        torch.testing.assert_close(
            layer(x, guide),
            torch.nn.functional.interpolate(x, (11, 13), mode=mode,
                                            **kwargs))


def test_build_guided_upsampler_errors():
    with pytest.raises(ValueError, match='not a guided upsampler'):
        build_guided_upsampler(dict(type='pixel_shuffle'), 4, 4)
    with pytest.raises(TypeError, match='must be a dict'):
        build_guided_upsampler('bilinear', 4, 4)
    with pytest.raises(ValueError, match="mode must be 'nearest'"):
        build_guided_upsampler(dict(type=GuidedResize, mode='area'), 4, 4)


# --- CARAFE on CPU ---------------------------------------------------------


def carafe_by_definition(features, masks, K, G):
    """CARAFE's reassembly written out point by point (tiny inputs), to the
    masks' size (H, W): output (i, j) reads the K x K window around
    (floor(i * h / H), floor(j * w / W)), (i // s, j // s) for a scale s."""
    N, C, h, w = features.shape
    H, W = masks.shape[-2:]
    out = features.new_zeros(N, C, H, W)
    r = K // 2
    for i in range(H):
        for j in range(W):
            for c in range(C):
                g = c // (C // G)
                for ky in range(K):
                    for kx in range(K):
                        y, x = i * h // H + ky - r, j * w // W + kx - r
                        if 0 <= y < h and 0 <= x < w:
                            m = masks[:, g * K * K + ky * K + kx, i, j]
                            out[:, c, i, j] += m * features[:, c, y, x]
    return out


@pytest.mark.parametrize('K, G, s', [(5, 1, 2), (3, 2, 2), (3, 1, 3),
                                     (1, 1, 2)])
def test_carafe_reassemble_matches_definition(K, G, s):
    features = torch.randn(2, 4, 3, 4, dtype=torch.float64)
    masks = torch.randn(2, G * K * K, 3 * s, 4 * s, dtype=torch.float64)
    torch.testing.assert_close(
        carafe_reassemble(features, masks, K, G, s),
        carafe_by_definition(features, masks, K, G))


def test_carafe_reassemble_errors():
    with pytest.raises(ValueError, match='divisible by group_size=3'):
        carafe_reassemble(torch.randn(1, 4, 2, 2), torch.randn(1, 27, 4, 4),
                          3, 3, 2)
    with pytest.raises(ValueError, match=r'masks must have shape'):
        carafe_reassemble(torch.randn(1, 4, 2, 2), torch.randn(1, 9, 5, 4), 3,
                          1, 2)


def test_guided_carafe_is_carafepack():
    from mmcv.ops import CARAFEPack
    layer = GuidedCARAFE(256)
    assert n_params(layer) == n_params(CARAFEPack(256, 2)) == 74148
    x = torch.randn(1, 256, 4, 5)
    with pytest.raises(ValueError, match='cannot be cropped'):
        layer(x, torch.randn(1, 8, 12, 10))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_carafe_gives_mmcv_dense_inputs_of_one_dtype(monkeypatch, dtype):
    """mmcv's CUDA launcher reads data_ptr() as dense NCHW and the mask in
    the features' dtype: strided (Mask2Former's permuted memory),
    channels-last features and an autocast float32 mask reach it dense and
    of the features' dtype."""
    from sapa_mm.models import carafe as carafe_module
    seen = []

    def fake_mmcv_carafe(features, masks, K, G, s):
        seen.append((features, masks))
        return carafe_reassemble(features, masks, K, G, s)

    monkeypatch.setattr(carafe_module, 'mmcv_carafe', fake_mmcv_carafe)
    monkeypatch.setattr(carafe_module, '_uses_mmcv_op', lambda f: True)
    memory = torch.randn(2, 5 * 6, 3, 16).to(dtype)  # (B, h*w, 3, C)
    strided = memory.permute(0, 3, 1, 2)[:, :, :, 0].reshape(2, 16, 5, 6)
    channels_last = strided.contiguous(memory_format=torch.channels_last)
    masks = torch.randn(2, 25, 10, 12).softmax(1)  # float32, as autocast's
    for features in (strided, channels_last):
        assert not features.is_contiguous()
        out = carafe_module.reassemble(features, masks, 5, 1, 2)
        got_features, got_masks = seen[-1]
        assert got_features.is_contiguous() and got_masks.is_contiguous()
        assert got_features.dtype == got_masks.dtype == dtype
        assert torch.equal(got_features, features)
        _assert_dtype_close(out, carafe_reassemble(
            features.float(), masks.to(dtype).float(), 5, 1, 2), dtype)


def test_carafe_bfloat16_takes_the_sapa_kernels(monkeypatch):
    """mmcv's op has no bfloat16: such features take carafe_reassemble,
    whatever the device."""
    from sapa_mm.models import carafe as carafe_module
    assert not carafe_module._uses_mmcv_op(
        torch.empty(1, 1, 1, 1, dtype=torch.bfloat16))

    def fail(*args):
        raise AssertionError('mmcv carafe called for bfloat16')

    monkeypatch.setattr(carafe_module, 'mmcv_carafe', fail)
    features = torch.randn(1, 8, 4, 5, dtype=torch.bfloat16)
    masks = torch.randn(1, 9, 8, 10).softmax(1)
    out = carafe_module.reassemble(features, masks, 3, 1, 2)
    assert out.dtype == torch.bfloat16
    _assert_dtype_close(out, carafe_reassemble(
        features.float(), masks.bfloat16().float(), 3, 1, 2), torch.bfloat16)


def _assert_dtype_close(actual, expected, dtype):
    tol = {torch.float32: {}, torch.float16: dict(atol=2e-2, rtol=1e-2),
           torch.bfloat16: dict(atol=1e-1, rtol=5e-2)}[dtype]
    torch.testing.assert_close(actual.float(), expected.float(), **tol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='requires CUDA')
def test_guided_carafe_on_cuda_strided_and_autocast():
    """On a GPU: mmcv's op on strided features and under float16 autocast
    equals the CPU path; bfloat16 runs."""
    layer = GuidedCARAFE(16)
    x = torch.randn(2, 16, 9, 7).contiguous(memory_format=torch.channels_last)
    guide = torch.randn(2, 4, 18, 14)
    expected = layer(x, guide)
    cuda_layer = layer.cuda()
    torch.testing.assert_close(
        cuda_layer(x.cuda(), guide.cuda()).cpu(), expected, atol=1e-4,
        rtol=1e-4)
    with torch.autocast('cuda', dtype=torch.float16):
        out = cuda_layer(x.cuda(), guide.cuda())
    torch.testing.assert_close(out.float().cpu(), expected, atol=5e-2,
                               rtol=5e-2)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        out = cuda_layer(x.cuda(), guide.cuda())
    torch.testing.assert_close(out.float().cpu(), expected, atol=2e-1,
                               rtol=1e-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='requires CUDA')
def test_carafe_cpu_path_matches_mmcv_cuda():
    from mmcv.ops import carafe
    features = torch.randn(2, 16, 9, 7)
    masks = torch.randn(2, 2 * 25, 18, 14).softmax(1)
    expected = carafe(features.cuda(), masks.cuda(), 5, 2, 2).cpu()
    torch.testing.assert_close(
        carafe_reassemble(features, masks, 5, 2, 2), expected, atol=1e-5,
        rtol=1e-5)


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


# --- IndexNet and A2U: the seed's other baselines ---------------------------


def even_padded(guide):
    """The guide with a zero row / column appended where H / W is odd."""
    H, W = guide.shape[-2:]
    return F.pad(guide, (0, W % 2, 0, H % 2))


def nearest_by_index(x, H, W):
    """x (B, C, h, w) at (H, W), output (i, j) reading (i*h // H, j*w // W)."""
    h, w = x.shape[-2:]
    rows = torch.arange(H) * h // H
    cols = torch.arange(W) * w // W
    return x[:, :, rows][:, :, :, cols]


def indexnet_by_steps(layer, x, guide):
    """IndexNet's steps as the issue states them, with the layer's weights,
    at the guide's even size, cropped."""
    H, W = guide.shape[-2:]
    guide = even_padded(guide)
    conv4x4, bn, _, conv1x1 = layer.index_net
    t = F.conv2d(guide, conv4x4.weight, stride=2, padding=1)
    if layer.training:
        t = F.batch_norm(t, None, None, bn.weight, bn.bias, True, 0., bn.eps)
    else:
        t = F.batch_norm(t, bn.running_mean, bn.running_var, bn.weight,
                         bn.bias, False, 0., bn.eps)
    t = F.conv2d(t.clamp(0, 6), conv1x1.weight)  # ReLU6, 1x1 conv
    index = torch.sigmoid(F.pixel_shuffle(torch.sigmoid(t), 2))
    up = nearest_by_index(x, *guide.shape[-2:])
    return (index * up)[..., :H, :W]


def a2u_by_steps(layer, x, guide):
    """A2U's steps as the issue states them, image by image and channel by
    channel, with the layer's weights, at the guide's even size, cropped;
    the reassembly written out point by point."""
    H, W = guide.shape[-2:]
    guide = even_padded(guide)
    s, k = layer.up_kernel, layer.encoder_kernel
    outs = []
    for b in range(guide.shape[0]):
        g = guide[b:b + 1]
        p = layer.kernel_weights(g.mean((2, 3), keepdim=True))  # (1, 4s^2)
        encoded = []
        for encoder, norm in ((layer.encoder_u, layer.norm_u),
                              (layer.encoder_v, layer.norm_v)):
            kernel = encoder(F.adaptive_avg_pool2d(g, k))  # (1, 1, k, k)
            t = torch.cat([
                F.conv2d(g[:, c:c + 1], kernel, stride=2,
                         padding=(k - 1) // 2) for c in range(g.shape[1])
            ], 1)
            t = F.group_norm(t, norm.num_groups, norm.weight, norm.bias,
                             norm.eps)
            encoded.append(F.leaky_relu(t))
        a = (encoded[0] * encoded[1]).sum(1, keepdim=True) / g.shape[1]**.5
        logits = a * p.reshape(1, 4 * s * s, 1, 1)  # the dynamic 1x1 conv
        masks = torch.sigmoid(F.pixel_shuffle(logits, 2)).softmax(1)
        outs.append(carafe_by_definition(x[b:b + 1], masks, s, 1))
    return torch.cat(outs)[..., :H, :W]


def randomize(layer):
    """Non-trivial weights and BatchNorm statistics, in float64."""
    layer.double()
    for p in layer.parameters():
        torch.nn.init.normal_(p, std=0.5)
    for name, b in layer.named_buffers():
        if name.endswith('running_mean'):
            torch.nn.init.normal_(b)
        elif name.endswith('running_var'):
            torch.nn.init.uniform_(b, 0.5, 2)
    return layer


# (h, w) -> (H, W): exact 2x; odd guides of a ceil-mode encoder (mmseg's
# 'whole' test mode); ratios other than 2 (reassembled by aggregate).
BASELINE_SIZES = [(3, 4, 6, 8), (3, 4, 5, 7), (2, 2, 3, 4), (2, 3, 7, 9),
                  (1, 1, 2, 2)]


def assert_matches_steps(layer, by_steps, sizes):
    """The layer and its steps written out: the output (B, C, H, W) and the
    gradients of x, the guide and the parameters, in float64."""
    (C, h, w), (Cg, H, W) = sizes
    x = torch.randn(2, C, h, w, dtype=torch.float64, requires_grad=True)
    guide = torch.randn(2, Cg, H, W, dtype=torch.float64, requires_grad=True)
    out = layer(x, guide)
    expected = by_steps(layer, x, guide)
    assert out.shape == (2, C, H, W)
    torch.testing.assert_close(out, expected)
    grad = torch.randn_like(out)
    params = [x, guide, *layer.parameters()]
    for a, b in zip(torch.autograd.grad(out, params, grad),
                    torch.autograd.grad(expected, params, grad)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('h,w,H,W', BASELINE_SIZES)
@pytest.mark.parametrize('training', [True, False])
def test_indexnet_matches_its_steps(h, w, H, W, training):
    layer = randomize(IndexNet(5, 6)).train(training)
    assert_matches_steps(layer, indexnet_by_steps, ((5, h, w), (6, H, W)))


@pytest.mark.parametrize('h,w,H,W', BASELINE_SIZES)
def test_a2u_matches_its_steps(h, w, H, W):
    layer = randomize(A2U(3, 4, norm_groups=2))
    assert_matches_steps(layer, a2u_by_steps, ((3, h, w), (4, H, W)))


def test_a2u_other_kernel_sizes():
    layer = randomize(A2U(3, 4, up_kernel=5, encoder_kernel=3,
                          norm_groups=4))
    assert_matches_steps(layer, a2u_by_steps, ((3, 3, 4), (4, 5, 8)))


@pytest.mark.parametrize('cls', [IndexNet, A2U])
@pytest.mark.parametrize('h,w,H,W', [(16, 12, 32, 24), (43, 32, 85, 64)])
def test_baselines_forward_backward(cls, h, w, H, W):
    """The paper's C = Cg = 256 at 2x and at an odd size: every parameter
    and both inputs get a finite gradient."""
    layer = cls(256)
    x = torch.randn(2, 256, h, w, requires_grad=True)
    guide = torch.randn(2, 256, H, W, requires_grad=True)
    out = layer(x, guide)
    assert out.shape == (2, 256, H, W) and out.dtype == torch.float32
    out.square().mean().backward()
    for t in (x, guide, *layer.parameters()):
        assert t.grad is not None and torch.isfinite(t.grad).all()
        assert t.grad.abs().sum() > 0


@pytest.mark.parametrize('cls, per_module', [
    (IndexNet, lambda c: 32 * c * c + 12 * c),  # 4x4 conv, BN, 1x1 conv
    (A2U, lambda c: (c + 1) * 36 + 2 * (c + 1) + 4 * c),  # p, u & v, GNs
])
def test_baseline_parameter_counts(cls, per_module):
    # The paper's columns: 6 (SegFormer), 3 (MaskFormer, FPN) and 1
    # (Mask2Former) modules of C = Cg = 256.
    assert n_params(cls(256)) == per_module(256)
    assert n_params(cls(64, 128)) == per_module(128)
    assert round(6 * n_params(IndexNet(256)) / 1e6, 2) == 12.60
    assert round(6 * n_params(A2U(256)) / 1e6, 2) == 0.06


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
    # C = Cg = 256: the per-point counts behind the seed's columns.
    assert 32 * 256**2 + 8 * 256 + 4 * 256 == 2100224
    assert 2 * 36 * 256 + 256 + 36 + 36 * 256 == 27940


@pytest.mark.parametrize('kwargs, match', [
    (dict(cls=A2U, in_channels=8, guide_channels=20), 'norm_groups must '
     'divide guide_channels'),
    (dict(cls=A2U, in_channels=64, up_kernel=4), 'odd and positive'),
    (dict(cls=A2U, in_channels=64, encoder_kernel=0), 'encoder_kernel must'),
    (dict(cls=IndexNet, in_channels=0), 'in_channels must be a positive'),
    (dict(cls=IndexNet, in_channels=8, norm_cfg=dict(type='GN')),
     'norm_cfg must be a dict with type in'),
])
def test_baseline_constructor_errors(kwargs, match):
    cls = kwargs.pop('cls')
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize('cls', [IndexNet, A2U])
def test_baselines_low_precision_and_autocast(cls):
    layer = cls(32).eval()
    x, guide = torch.randn(2, 32, 5, 6), torch.randn(2, 32, 9, 12)
    expected = layer(x, guide)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = layer(x, guide)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=1e-1, rtol=5e-2)
    out = layer.to(torch.bfloat16)(x.bfloat16(), guide.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=1e-1, rtol=5e-2)


def test_baselines_keep_their_initialisation():
    """A parent's init (e.g. FPN's Xavier) reaches the upsamplers' layers;
    init_guided_upsamplers restores IndexNet's Kaiming fan-out normal and
    unit BatchNorm, and A2U's PyTorch defaults."""
    layers = torch.nn.ModuleList([IndexNet(64), A2U(64)])
    for p in layers.parameters():
        torch.nn.init.constant_(p, 3.)
    init_guided_upsamplers(layers)
    index_conv, bn = layers[0].index_net[0], layers[0].index_net[1]
    expected_std = (2 / (16 * 128))**.5  # 2 / (k * k * out_channels)
    assert abs(index_conv.weight.std() / expected_std - 1) < 0.05
    assert (bn.weight == 1).all() and (bn.bias == 0).all()
    a2u = layers[1]
    assert (a2u.norm_u.weight == 1).all() and (a2u.norm_v.bias == 0).all()
    bound = 1 / 64**.5  # PyTorch's default conv init for fan-in 64
    assert a2u.kernel_weights.weight.abs().max() <= bound
    assert a2u.kernel_weights.weight.std() > bound / 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason='requires CUDA')
@pytest.mark.parametrize('cls', [IndexNet, A2U])
def test_baselines_on_cuda(cls):
    """On a GPU (A2U: mmcv's carafe at 2x, the SAPA kernels otherwise), as
    on the CPU, forward and backward."""
    layer = cls(64).eval()
    for h, w, H, W in ((9, 7, 18, 14), (9, 7, 17, 13), (5, 4, 13, 11)):
        x = torch.randn(2, 64, h, w, requires_grad=True)
        guide = torch.randn(2, 64, H, W, requires_grad=True)
        out = layer(x, guide)
        grads = torch.autograd.grad(out.sum(), (x, guide))
        x_cuda = x.detach().cuda().requires_grad_()
        guide_cuda = guide.detach().cuda().requires_grad_()
        out_cuda = layer.cuda()(x_cuda, guide_cuda)
        grads_cuda = torch.autograd.grad(out_cuda.sum(),
                                         (x_cuda, guide_cuda))
        layer.cpu()
        torch.testing.assert_close(out_cuda.cpu(), out, atol=1e-4,
                                   rtol=1e-4)
        for a, b in zip(grads_cuda, grads):
            torch.testing.assert_close(a.cpu(), b, atol=1e-3, rtol=1e-3)


def test_indexnet_norm_cfg():
    """norm_cfg as OpenMMLab writes it; a config's SyncBN becomes BN where
    the tools run on CPU, as the models' own."""
    from sapa_mm.engine import _replace_sync_bn
    cfg = dict(type='IndexNet', norm_cfg=dict(type='SyncBN', momentum=0.01,
                                              requires_grad=False))
    bn = build_guided_upsampler(cfg, 8, 8).index_net[1]
    assert isinstance(bn, torch.nn.SyncBatchNorm) and bn.momentum == 0.01
    assert not any(p.requires_grad for p in bn.parameters())
    _replace_sync_bn(cfg)
    bn = build_guided_upsampler(cfg, 8, 8).index_net[1]
    assert type(bn) is torch.nn.BatchNorm2d
