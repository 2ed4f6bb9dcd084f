"""sapa_mm.models.upsamplers.builder: upsample_cfg -> guided upsampler for
every type (mmcv's name 'carafe' deprecated), the errors for what is not
one, and the upsamplers' own initialisation under a parent's."""
import pytest
import torch

pytest.importorskip('mmcv.ops')
from sapa_mm.models import (  # noqa: E402
    A2U,
    SAPA,
    GuidedCARAFE,
    GuidedResize,
    IndexNet,
    build_guided_upsampler,
    init_guided_upsamplers,
)


@pytest.mark.parametrize('cfg, cls', [
    (dict(type='nearest'), GuidedResize),
    (dict(type='bilinear', align_corners=True), GuidedResize),
    (dict(type='GuidedCARAFE'), GuidedCARAFE),
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


@pytest.mark.parametrize('name', ['carafe', 'CARAFE'])
def test_mmcv_carafe_names_build_guided_carafe_with_a_warning(name):
    """Configs written before type='GuidedCARAFE' still build it, with a
    DeprecationWarning that names the unambiguous type."""
    with pytest.warns(DeprecationWarning, match="write type='GuidedCARAFE'"):
        layer = build_guided_upsampler(dict(type=name), 16, 16)
    assert type(layer) is GuidedCARAFE
    x, guide = torch.randn(2, 16, 43, 32), torch.randn(2, 16, 85, 64)
    assert layer(x, guide).shape == (2, 16, 85, 64)


def test_build_guided_upsampler_errors():
    with pytest.raises(ValueError, match='not a guided upsampler'):
        build_guided_upsampler(dict(type='pixel_shuffle'), 4, 4)
    with pytest.raises(ValueError, match=r'a layer with forward\(x\): build '
                       r'it with mmcv.cnn.build_upsample_layer'):
        build_guided_upsampler(dict(type='pixel_shuffle'), 4, 4)
    with pytest.raises(ValueError, match='not a guided upsampler'):
        build_guided_upsampler(dict(type='no-such-upsampler'), 4, 4)
    with pytest.raises(TypeError, match='must be a dict'):
        build_guided_upsampler('bilinear', 4, 4)
    with pytest.raises(ValueError, match="mode must be 'nearest'"):
        build_guided_upsampler(dict(type=GuidedResize, mode='area'), 4, 4)


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
