"""sapa_mm.models.upsamplers.carafe: GuidedCARAFE is mmcv's CARAFEPack as a
guided upsampler, and hands mmcv's CUDA op the dense inputs of one dtype it
reads (bfloat16 and other devices take the SAPA kernels)."""
import pytest
import torch

pytest.importorskip('mmcv.ops')
from sapa_mm.models import GuidedCARAFE  # noqa: E402
from sapa_mm.models.upsamplers import carafe as carafe_module  # noqa: E402
from sapa_mm.ops.carafe import carafe_reassemble  # noqa: E402


def _assert_dtype_close(actual, expected, dtype):
    tol = {torch.float32: {}, torch.float16: dict(atol=2e-2, rtol=1e-2),
           torch.bfloat16: dict(atol=1e-1, rtol=5e-2)}[dtype]
    torch.testing.assert_close(actual.float(), expected.float(), **tol)


def test_guided_carafe_is_carafepack(n_params):
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
