"""Every guided upsampler at the edges the op tests already cover: an empty
batch, 1x1 inputs, large ratios (1x1 -> 100x100), meta tensors and
non-contiguous inputs."""
from importlib.util import find_spec

import pytest
import torch

pytest.importorskip('mmengine')
from sapa_mm.models import build_guided_upsampler  # noqa: E402

C = 8
UPSAMPLERS = {
    'nearest': dict(type='nearest'),
    'bilinear': dict(type='bilinear'),
    'carafe': dict(type='GuidedCARAFE'),
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


@pytest.mark.parametrize('name', UPSAMPLERS)
@pytest.mark.parametrize('layout', ['channels_last', 'sliced', 'permuted'])
def test_non_contiguous_inputs(name, layout, strided):
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
