"""Fixtures of the op tests: inputs of the window ops, per-dtype tolerances
and the memory layouts the kernels take."""
import pytest
import torch

# Per-dtype tolerances; low precision is compared with the float32 (or
# float64) reference of the same (rounded) inputs.
TOLERANCES = {
    torch.float64: dict(atol=1e-10, rtol=1e-10),
    torch.float32: dict(atol=1e-4, rtol=1e-4),
    torch.float16: dict(atol=2e-2, rtol=1e-2),
    torch.bfloat16: dict(atol=1e-1, rtol=5e-2),
}


@pytest.fixture(scope='session')
def tolerances():
    """{dtype: dict(atol=..., rtol=...)}."""
    return TOLERANCES


@pytest.fixture(scope='session')
def assert_close():
    """assert_close(actual, expected, dtype): in float32, with dtype's
    tolerance."""

    def assert_close(actual, expected, dtype):
        torch.testing.assert_close(
            actual.float(), expected.float(), **TOLERANCES[dtype])

    return assert_close


@pytest.fixture(scope='session')
def make_inputs():
    """make_inputs(B, D, C, h, w, H, W, K, dtype, device) -> (query, key,
    value, weights): random (B, D, H, W), (B, D, h, w), (B, C, h, w) and
    softmaxed (B, K*K, H, W) tensors."""

    def make_inputs(B, D, C, h, w, H, W, K, dtype=torch.float32,
                    device='cpu'):
        q = torch.randn(B, D, H, W, device=device).to(dtype)
        k = torch.randn(B, D, h, w, device=device).to(dtype)
        v = torch.randn(B, C, h, w, device=device).to(dtype)
        wt = torch.randn(B, K * K, H, W, device=device).softmax(1).to(dtype)
        return q, k, v, wt

    return make_inputs


@pytest.fixture(scope='session')
def formats():
    """formats(t) -> {layout: t in it}: t planar, channels-last, and
    non-contiguous (every other element of a wider tensor)."""

    def formats(t):
        return dict(
            planar=t.contiguous(),
            channels_last=t.contiguous(memory_format=torch.channels_last),
            strided=torch.stack([t, -t], -1)[..., 0])

    return formats
