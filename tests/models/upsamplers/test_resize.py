"""sapa_mm.models.upsamplers.resize: the fixed interpolations (the nearest
and bilinear rows) are F.interpolate to the guide's size."""
import pytest
import torch

pytest.importorskip('mmengine')
from sapa_mm.models import GuidedResize, build_guided_upsampler  # noqa: E402


def test_guided_resize_matches_interpolate():
    x, guide = torch.randn(1, 3, 5, 7), torch.randn(1, 2, 11, 13)
    for mode in ('nearest', 'bilinear'):
        layer = build_guided_upsampler(dict(type=mode), 3, 2)
        kwargs = {} if mode == 'nearest' else dict(align_corners=False)
        torch.testing.assert_close(
            layer(x, guide),
            torch.nn.functional.interpolate(x, (11, 13), mode=mode,
                                            **kwargs))


def test_guided_resize_constructor_errors():
    with pytest.raises(ValueError, match="mode must be 'nearest'"):
        GuidedResize(mode='area')
    with pytest.raises(ValueError, match='align_corners only applies'):
        GuidedResize(mode='nearest', align_corners=True)
