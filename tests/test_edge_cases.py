"""Every public module at the edges the op tests already cover: an empty
batch, 1x1 inputs, large ratios (1x1 -> 100x100), meta tensors and
non-contiguous inputs. The guided upsamplers take each; the heads and necks
that build them take the empty batch, the smallest sizes, channels-last
inputs and meta tensors."""
import copy
from importlib.util import find_spec

import pytest
import torch

from sapa_mm.models import build_guided_upsampler

C = 8
UPSAMPLERS = {
    'nearest': dict(type='nearest'),
    'bilinear': dict(type='bilinear'),
    'carafe': dict(type='carafe'),
    'indexnet': dict(type='IndexNet'),
    'a2u': dict(type='A2U', norm_groups=4),
    'sapa-i': dict(type='SAPA-I'),
    'sapa-b': dict(type='SAPA-B'),
    'sapa-g': dict(type='SAPA-G'),
}
NEEDS_MMCV = {'carafe'}


def upsampler(name):
    if name in NEEDS_MMCV and find_spec('mmcv') is None:
        pytest.skip('CARAFE needs mmcv')
    torch.manual_seed(0)
    return build_guided_upsampler(UPSAMPLERS[name], C, C)


def inputs(batch, h, w, H, W, dtype=torch.float64):
    torch.manual_seed(1)
    return (torch.randn(batch, C, h, w, dtype=dtype),
            torch.randn(batch, C, H, W, dtype=dtype))


@pytest.mark.parametrize('name', UPSAMPLERS)
def test_empty_batch(name):
    up = upsampler(name).double()
    x, guide = inputs(0, 5, 6, 10, 12)
    x.requires_grad_(), guide.requires_grad_()
    out = up(x, guide)
    assert out.shape == (0, C, 10, 12)
    out.sum().backward()
    assert x.grad.shape == x.shape
    assert guide.grad is None or guide.grad.shape == guide.shape


@pytest.mark.parametrize('name', UPSAMPLERS)
@pytest.mark.parametrize('size', [(1, 1, 1, 1), (1, 1, 2, 2), (1, 1, 100, 100),
                                  (2, 3, 100, 57)])
def test_small_inputs_and_large_ratios(name, size):
    up = upsampler(name).double()
    x, guide = inputs(2, *size)
    x.requires_grad_(), guide.requires_grad_()
    h, w, H, W = size
    if name == 'carafe' and (H > 2 * h or W > 2 * w):
        # CARAFE's ratio is its integer scale_factor (2): a clear error.
        with pytest.raises(ValueError, match=r'scale_factor=2 maps x of size'):
            up(x, guide)
        return
    out = up(x, guide)
    assert out.shape == (2, C, H, W) and out.isfinite().all()
    out.square().sum().backward()
    assert x.grad.isfinite().all()
    if name in ('nearest', 'bilinear') and (h, w) == (H, W):
        torch.testing.assert_close(out, x.detach())


@pytest.mark.parametrize('name', UPSAMPLERS)
def test_meta_tensors(name):
    """Shapes without data (torch.device('meta'), as for model summaries and
    deferred initialisation)."""
    up = upsampler(name).to('meta')
    x, guide = (t.to('meta') for t in inputs(2, 5, 6, 10, 11,
                                             torch.float32))
    out = up(x, guide)
    assert out.device.type == 'meta' and out.shape == (2, C, 10, 11)
    assert out.dtype == torch.float32


def strided(t, layout):
    """The same values as ``t`` in another memory layout."""
    if layout == 'channels_last':
        return t.contiguous(memory_format=torch.channels_last)
    if layout == 'sliced':  # every other column of a wider tensor
        wide = torch.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
        wide[..., ::2] = t
        return wide[..., ::2]
    # channels taken from a permuted (B, H, W, C) tensor and a batch slice
    doubled = torch.cat([t, t]).permute(0, 2, 3, 1).contiguous()
    return doubled.permute(0, 3, 1, 2)[:t.shape[0]]


@pytest.mark.parametrize('name', UPSAMPLERS)
@pytest.mark.parametrize('layout', ['channels_last', 'sliced', 'permuted'])
def test_non_contiguous_inputs(name, layout):
    up = upsampler(name).double()
    x, guide = inputs(2, 7, 5, 13, 10)
    expected = up(x, guide)
    x_s, guide_s = strided(x, layout), strided(guide, layout)
    assert not x_s.is_contiguous()
    x_s.requires_grad_()
    out = up(x_s, guide_s)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert x_s.grad.shape == x.shape


# The heads and necks that build guided upsamplers, with small channel
# counts: (builder, inputs for a batch of `b` images of size (H, W)).
HEAD_UPSAMPLERS = ['bilinear', 'carafe', 'indexnet', 'sapa-b']
CHANNELS = [8, 16, 24, 32]


def pyramid(b, H, W, channels=CHANNELS, dtype=torch.float32):
    """Features at strides 4..32 of a (H, W) image (ceil at each step)."""
    torch.manual_seed(2)
    feats = []
    for c in channels:
        H, W = -(-H // (2 if feats else 4)), -(-W // (2 if feats else 4))
        feats.append(torch.randn(b, c, H, W, dtype=dtype))
    return feats


def segformer_head(upsample_cfg):
    from sapa_mm.models import GuidedSegformerHead
    return GuidedSegformerHead(upsample_cfg=upsample_cfg,
                               in_channels=CHANNELS, in_index=[0, 1, 2, 3],
                               channels=16, num_classes=3)


def pixel_decoder(upsample_cfg):
    from sapa_mm.models import GuidedPixelDecoder
    return GuidedPixelDecoder(upsample_cfg=upsample_cfg,
                              in_channels=CHANNELS, feat_channels=16,
                              out_channels=16,
                              norm_cfg=dict(type='GN', num_groups=4),
                              act_cfg=dict(type='ReLU'))


def msdeform_pixel_decoder(upsample_cfg):
    from mmengine.config import ConfigDict

    from sapa_mm.models import GuidedMSDeformAttnPixelDecoder
    layer = ConfigDict(
        self_attn_cfg=dict(embed_dims=16, num_heads=2, num_levels=3,
                           num_points=2, batch_first=True),
        ffn_cfg=dict(embed_dims=16, feedforward_channels=32, num_fcs=2,
                     ffn_drop=0.0, act_cfg=dict(type='ReLU', inplace=True)))
    return GuidedMSDeformAttnPixelDecoder(
        upsample_cfg=upsample_cfg, in_channels=CHANNELS,
        strides=[4, 8, 16, 32], feat_channels=16, out_channels=16,
        num_outs=3, norm_cfg=dict(type='GN', num_groups=4),
        act_cfg=dict(type='ReLU'),
        encoder=ConfigDict(num_layers=1, layer_cfg=layer),
        positional_encoding=ConfigDict(num_feats=8, normalize=True))


def fpn(upsample_cfg):
    from sapa_mm.models import GuidedFPN
    return GuidedFPN(CHANNELS, 16, num_outs=5, upsample_cfg=upsample_cfg)


HEADS = {
    'segformer_head': ('mmseg', segformer_head, lambda m, f: [m(f)]),
    'pixel_decoder': ('mmdet', pixel_decoder,
                      lambda m, f: list(m(f, None)[:1]) + list(m(f, None)[1:])),
    'msdeform_pixel_decoder': ('mmdet', msdeform_pixel_decoder,
                               lambda m, f: [m(f)[0], *m(f)[1]]),
    'fpn': ('mmdet', fpn, lambda m, f: list(m(f))),
}


def head(kind, name):
    package, build, run = HEADS[kind]
    if find_spec(package) is None:
        pytest.skip(f'{kind} needs {package}')
    cfg = copy.deepcopy(UPSAMPLERS[name])
    if name in NEEDS_MMCV and find_spec('mmcv') is None:
        pytest.skip('CARAFE needs mmcv')
    torch.manual_seed(0)
    module = build(cfg)
    module.init_weights()
    return module.eval(), run


@pytest.mark.parametrize('kind', HEADS)
@pytest.mark.parametrize('name', HEAD_UPSAMPLERS)
def test_heads_empty_batch(kind, name):
    module, run = head(kind, name)
    outs = run(module, pyramid(0, 64, 48))
    assert all(o.shape[0] == 0 for o in outs)


@pytest.mark.parametrize('kind', HEADS)
@pytest.mark.parametrize('name', HEAD_UPSAMPLERS)
def test_heads_smallest_images(kind, name):
    """Images of 1x1 and 33x1 pixels: every stage is 1 pixel wide."""
    module, run = head(kind, name)
    for H, W in ((1, 1), (33, 1)):
        feats = pyramid(2, H, W)
        outs = run(module, feats)
        assert outs[0].shape[-2:] == feats[0].shape[-2:]
        assert all(o.isfinite().all() for o in outs)


@pytest.mark.parametrize('kind', HEADS)
@pytest.mark.parametrize('name', HEAD_UPSAMPLERS)
def test_heads_channels_last_inputs(kind, name):
    module, run = head(kind, name)
    feats = pyramid(2, 67, 45)
    expected = run(module, feats)
    outs = run(module, [strided(f, 'channels_last') for f in feats])
    for a, b in zip(outs, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('kind', ['segformer_head', 'pixel_decoder', 'fpn'])
@pytest.mark.parametrize('name', HEAD_UPSAMPLERS)
def test_heads_meta_tensors(kind, name):
    module, run = head(kind, name)
    feats = pyramid(2, 64, 48)
    expected = run(module, feats)
    outs = run(module.to('meta'), [f.to('meta') for f in feats])
    assert [o.shape for o in outs] == [e.shape for e in expected]
    assert all(o.device.type == 'meta' for o in outs)
