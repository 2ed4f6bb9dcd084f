"""sapa_mm.models.decode_heads.bts_head and local_planar_guidance: BTS's
decoder with every guided upsampler at odd input sizes, its edge cases,
its errors, and the parameter-free LPG."""
import math

import pytest
import torch

pytest.importorskip('mmseg')
from mmengine.structures import PixelData  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

from sapa_mm.models import BTSHead, LocalPlanarGuidance  # noqa: E402
from sapa_mm.models.decode_heads import local_planar_guidance  # noqa: E402
from sapa_mm.models.decode_heads.local_planar_guidance import (  # noqa: E402
    plane_coefficients,
)

CHANNELS = (8, 16, 24, 32, 40)
UPSAMPLERS = [dict(type='nearest'), dict(type='bilinear'),
              dict(type='GuidedCARAFE'), dict(type='IndexNet'),
              dict(type='A2U', norm_groups=8), dict(type='SAPA-B'),
              dict(type='SAPA-G')]


def encoder_features(b, H, W, channels=CHANNELS):
    """Features of a (H, W) image at strides 2..32, ceil at each step (as a
    stride-2 ResNet gives them)."""
    feats = []
    for c in channels:
        H, W = -(-H // 2), -(-W // 2)
        feats.append(torch.randn(b, c, H, W))
    return feats


def build_head(upsample_cfg, **kwargs):
    kwargs = dict(dict(in_channels=CHANNELS, channels=32,
                       upsample_cfg=upsample_cfg), **kwargs)
    head = BTSHead(**kwargs)
    head.init_weights()
    return head


def depth_sample(depth):
    return SegDataSample(gt_depth_map=PixelData(data=depth),
                         metainfo=dict(img_shape=depth.shape[-2:],
                                       ori_shape=depth.shape[-2:]))


@pytest.mark.parametrize('upsample', UPSAMPLERS,
                         ids=[u['type'] for u in UPSAMPLERS])
def test_every_upsampler_trains_at_odd_sizes(upsample):
    head = build_head(upsample).train()
    feats = encoder_features(2, 67, 45)  # 34x23 ... 3x2
    depth = head(feats)
    assert depth.shape == (2, 1, 68, 46)  # twice the stride-2 feature
    assert (depth > 0).all() and (depth < head.max_depth).all()
    gt = torch.rand(2, 1, 67, 45) * 9 + 0.5
    losses = head.loss_by_feat(depth, [depth_sample(g) for g in gt])
    assert set(losses) == {'loss_silog'} and losses['loss_silog'] > 0
    losses['loss_silog'].backward()
    for name in ('upconv5', 'upconv4', 'upconv3', 'upconv2'):
        module = getattr(head, name).upsample
        assert all(p.grad is not None for p in module.parameters()), name
    # predict: resized to the image and clamped to [min_depth, max_depth]
    head.eval()
    with torch.no_grad():
        pred = head.predict(feats, [dict(img_shape=(67, 45))], {})
    assert pred.shape == (2, 1, 67, 45)
    assert pred.min() >= head.min_depth and pred.max() <= head.max_depth


def test_upsamplers_are_guided_by_the_skip_at_the_target_scale():
    head = build_head(dict(type='nearest'))
    calls = []
    for name in ('upconv5', 'upconv4', 'upconv3', 'upconv2'):
        getattr(head, name).upsample.register_forward_hook(
            lambda m, args, out, n=name: calls.append(
                (n, args[0].shape[1], tuple(args[1].shape[1:]),
                 tuple(out.shape[1:]))))
    feats = encoder_features(1, 67, 45)
    head(feats)
    n = 32
    assert calls == [
        ('upconv5', CHANNELS[4], tuple(feats[3].shape[1:]),
         (CHANNELS[4], ) + tuple(feats[3].shape[2:])),
        ('upconv4', n, tuple(feats[2].shape[1:]),
         (n, ) + tuple(feats[2].shape[2:])),
        ('upconv3', n // 4, tuple(feats[1].shape[1:]),
         (n // 4, ) + tuple(feats[1].shape[2:])),
        ('upconv2', n // 4, tuple(feats[0].shape[1:]),
         (n // 4, ) + tuple(feats[0].shape[2:])),
    ]


@pytest.mark.parametrize('upsample', [dict(type='nearest'),
                                      dict(type='SAPA-B'),
                                      dict(type='IndexNet')],
                         ids=['nearest', 'sapa-b', 'indexnet'])
def test_edge_cases(upsample):
    head = build_head(upsample).eval()
    with torch.no_grad():
        # an empty batch
        assert head(encoder_features(0, 64, 48)).shape == (0, 1, 64, 48)
        # the smallest image: every feature is 1x1
        out = head(encoder_features(2, 1, 1))
        assert out.shape == (2, 1, 2, 2) and out.isfinite().all()
        # channels-last inputs give the same depth
        feats = encoder_features(2, 37, 29)
        expected = head(feats)
        out = head([f.contiguous(memory_format=torch.channels_last)
                    for f in feats])
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
        # meta tensors: shapes only, on any device
        out = head.to('meta')([f.to('meta') for f in feats])
        assert out.shape == expected.shape and out.device.type == 'meta'


def test_nearest_head_is_bts_at_32_divisible_sizes():
    """With 'nearest' at a multiple of 32, each up-convolution is BTS's
    nearest 2x (scale_factor=2) followed by the conv."""
    head = build_head(dict(type='nearest')).eval()
    feats = encoder_features(1, 64, 96)
    x = torch.randn(1, 8, 4, 6)
    up = head.upconv3
    expected = up.act(up.conv(torch.nn.functional.interpolate(
        x, scale_factor=2, mode='nearest')))
    torch.testing.assert_close(up(x, torch.zeros(1, 16, 8, 12)), expected)
    assert head(feats).shape == (1, 1, 64, 96)


def test_bad_inputs_name_the_argument_and_the_shapes():
    with pytest.raises(ValueError, match='max_depth must be > 0'):
        BTSHead(in_channels=CHANNELS, channels=32, max_depth=0)
    with pytest.raises(ValueError, match='min_depth'):
        BTSHead(in_channels=CHANNELS, channels=32, max_depth=1,
                min_depth=2)
    with pytest.raises(ValueError, match='multiple of 16'):
        BTSHead(in_channels=CHANNELS, channels=40)
    with pytest.raises(ValueError, match='5 features'):
        BTSHead(in_channels=CHANNELS[:4], channels=32)
    # SAPA-I compares x with the guide channel by channel: widths differ
    with pytest.raises(ValueError, match=r'upconv5 upsamples x of 40 '
                       r'channels guided by skip3 of 32.*SAPA-I'):
        BTSHead(in_channels=CHANNELS, channels=32,
                upsample_cfg=dict(type='SAPA-I'))
    head = build_head(dict(type='SAPA-B'))
    feats = encoder_features(1, 64, 64)
    # a guide (skip) of the wrong width
    bad = list(feats)
    bad[1] = torch.randn(1, 17, *feats[1].shape[2:])
    with pytest.raises(ValueError, match=r'inputs\[1\] \(stride 4\) must '
                       r'have in_channels\[1\]=16 channels.*'
                       r'\(1, 17, 16, 16\)'):
        head(bad)
    with pytest.raises(ValueError, match='5 features'):
        head(feats[:4])
    depth = head(feats)
    # depth maps of the wrong dtype or shape
    with pytest.raises(TypeError, match='floating point.*torch.int32'):
        head.loss_by_feat(depth, [depth_sample(
            torch.ones(1, 64, 64, dtype=torch.int32))])
    with pytest.raises(ValueError, match=r'must be \(1, H, W\), got '
                       r'\(2, 64, 64\)'):
        head.loss_by_feat(depth, [depth_sample(torch.ones(2, 64, 64))])


def test_lpg_is_parameter_free_and_matches_the_plane_equation():
    assert list(LocalPlanarGuidance(4).parameters()) == []
    torch.manual_seed(0)
    planes = plane_coefficients(torch.randn(2, 3, 3, 5), max_depth=10.0)
    ratio = 4
    depth = LocalPlanarGuidance(ratio)(planes)
    assert depth.shape == (2, 3 * ratio, 5 * ratio)
    # pixel (y, x) lies in coarse pixel (y // r, x // r) at the centred
    # offsets u (width) and v (height), divided by r
    for b, y, x in ((0, 0, 0), (1, 7, 13), (0, 11, 19), (1, 5, 2)):
        n1, n2, n3, n4 = planes[b, :, y // ratio, x // ratio]
        u = (x % ratio - (ratio - 1) / 2) / ratio
        v = (y % ratio - (ratio - 1) / 2) / ratio
        torch.testing.assert_close(depth[b, y, x], n4 / (n1 * u + n2 * v + n3))
    # the normals are unit vectors, the distances within max_depth
    torch.testing.assert_close(planes[:, :3].norm(dim=1),
                               torch.ones(2, 3, 5))
    assert (planes[:, 3] > 0).all() and (planes[:, 3] < 10).all()
    # a fronto-parallel plane (n = (0, 0, 1)) is its distance everywhere
    flat = torch.tensor([0.0, 0.0, 1.0, 2.5]).view(1, 4, 1, 1)
    torch.testing.assert_close(local_planar_guidance(flat.expand(
        1, 4, 2, 3), 8), torch.full((1, 16, 24), 2.5))
    # any device and dtype: the offsets follow the planes
    meta = local_planar_guidance(planes.to('meta', torch.float64), 2)
    assert meta.shape == (2, 6, 10) and meta.dtype == torch.float64
    assert plane_coefficients(torch.zeros(1, 3, 1, 1), 10.0)[0, 2].item() \
        == pytest.approx(math.cos(math.pi / 6))


def test_lpg_errors():
    with pytest.raises(ValueError, match='4 channels'):
        local_planar_guidance(torch.zeros(1, 3, 2, 2), 2)
    with pytest.raises(ValueError, match='ratio must be a positive int'):
        LocalPlanarGuidance(0)
    with pytest.raises(TypeError, match='floating point'):
        local_planar_guidance(torch.zeros(1, 4, 2, 2, dtype=torch.long), 2)
