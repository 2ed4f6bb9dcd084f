"""sapa_mm.models.upsamplers.guided, the guided interface: a guided
upsampler called without its guide says so, and every one checks its
inputs' shapes, channels and dtypes."""
import pytest
import torch

pytest.importorskip('mmcv.ops')
from mmcv.cnn import build_upsample_layer  # noqa: E402

from sapa_mm.models import A2U, SAPA, IndexNet  # noqa: E402


@pytest.mark.parametrize('cfg', [
    dict(type='SAPA-B'), dict(type='SAPA-I'), dict(type='IndexNet'),
    dict(type='A2U', norm_groups=4), dict(type='GuidedCARAFE'),
    dict(type='GuidedResize')
], ids=lambda cfg: cfg['type'])
def test_called_without_a_guide(cfg):
    """Built by mmcv's build_upsample_layer, as a layer with forward(x)
    would be, and called so: a TypeError that names the guided interface."""
    layer = build_upsample_layer(cfg, in_channels=8)
    x = torch.randn(2, 8, 5, 6)
    with pytest.raises(TypeError, match=r'is a guided upsampler: call it '
                       r'as module\(x, guide\)'):
        layer(x)
    assert layer(x, torch.randn(2, 8, 10, 12)).shape == (2, 8, 10, 12)


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
