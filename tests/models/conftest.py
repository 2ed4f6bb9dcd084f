"""Fixtures of the model tests: inputs in other memory layouts, feature
pyramids, and the edge cases every head, neck and pixel decoder that builds
guided upsamplers takes."""
import copy
from importlib.util import find_spec

import pytest
import torch

# Feature sizes of a 171x129 image at strides 4..32 (ceil at each step).
ODD_SIZES = [(43, 33), (22, 17), (11, 9), (6, 5)]
# The channels of the heads' and necks' edge-case pyramids.
CHANNELS = [8, 16, 24, 32]


@pytest.fixture(scope='session')
def strided():
    """strided(t, layout): the same values as ``t`` in another memory
    layout: 'channels_last', 'sliced' or 'permuted'."""

    def strided(t, layout):
        if layout == 'channels_last':
            return t.contiguous(memory_format=torch.channels_last)
        if layout == 'sliced':  # every other column of a wider tensor
            wide = torch.zeros(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
            wide[..., ::2] = t
            return wide[..., ::2]
        # channels taken from a permuted (B, H, W, C) tensor and a batch
        # slice
        doubled = torch.cat([t, t]).permute(0, 2, 3, 1).contiguous()
        return doubled.permute(0, 3, 1, 2)[:t.shape[0]]

    return strided


@pytest.fixture(scope='session')
def odd_sizes():
    """Feature sizes of a 171x129 image at strides 4..32."""
    return list(ODD_SIZES)


@pytest.fixture(scope='session')
def features():
    """features(channels, sizes=odd_sizes): a batch of two random feature
    maps per (channels, size)."""

    def features(channels, sizes=ODD_SIZES):
        return [torch.randn(2, c, h, w) for c, (h, w) in zip(channels, sizes)]

    return features


@pytest.fixture(scope='session')
def pyramid():
    """pyramid(b, H, W, channels=CHANNELS, dtype): features at strides 4..32
    of a (H, W) image (ceil at each step), for a batch of b."""

    def pyramid(b, H, W, channels=CHANNELS, dtype=torch.float32):
        torch.manual_seed(2)
        feats = []
        for c in channels:
            H, W = -(-H // (2 if feats else 4)), -(-W // (2 if feats else 4))
            feats.append(torch.randn(b, c, H, W, dtype=dtype))
        return feats

    return pyramid


@pytest.fixture(scope='session')
def head_channels():
    """The input channels of the heads built for the edge cases."""
    return list(CHANNELS)


@pytest.fixture(
    params=[dict(type='bilinear'), dict(type='GuidedCARAFE'),
            dict(type='IndexNet'), dict(type='SAPA-B')],
    ids=['bilinear', 'carafe', 'indexnet', 'sapa-b'])
def head_upsample_cfg(request):
    """The upsamplers the heads' edge cases are run with."""
    if request.param['type'] == 'GuidedCARAFE' and find_spec('mmcv') is None:
        pytest.skip('CARAFE needs mmcv')
    return copy.deepcopy(request.param)


class HeadEdgeCases:
    """The edge cases of a head, neck or pixel decoder: ``module`` in eval
    mode, ``run(module, feats)`` its outputs as a list."""

    CASES = ('empty_batch', 'smallest_images', 'channels_last_inputs',
             'meta_tensors')

    def __init__(self, pyramid, strided):
        self.pyramid = pyramid
        self.strided = strided

    @staticmethod
    def build(build, upsample_cfg):
        """``build(upsample_cfg)``, initialised, in eval mode."""
        torch.manual_seed(0)
        module = build(upsample_cfg)
        module.init_weights()
        return module.eval()

    def empty_batch(self, module, run):
        outs = run(module, self.pyramid(0, 64, 48))
        assert all(o.shape[0] == 0 for o in outs)

    def smallest_images(self, module, run):
        """Images of 1x1 and 33x1 pixels: every stage is 1 pixel wide."""
        for H, W in ((1, 1), (33, 1)):
            feats = self.pyramid(2, H, W)
            outs = run(module, feats)
            assert outs[0].shape[-2:] == feats[0].shape[-2:]
            assert all(o.isfinite().all() for o in outs)

    def channels_last_inputs(self, module, run):
        feats = self.pyramid(2, 67, 45)
        expected = run(module, feats)
        outs = run(module, [self.strided(f, 'channels_last') for f in feats])
        for a, b in zip(outs, expected):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)

    def meta_tensors(self, module, run):
        feats = self.pyramid(2, 64, 48)
        expected = run(module, feats)
        outs = run(module.to('meta'), [f.to('meta') for f in feats])
        assert [o.shape for o in outs] == [e.shape for e in expected]
        assert all(o.device.type == 'meta' for o in outs)


@pytest.fixture(scope='session')
def head_edge_cases(pyramid, strided):
    """The edge cases every module that builds guided upsamplers takes: an
    empty batch, the smallest images, channels-last inputs and meta
    tensors."""
    return HeadEdgeCases(pyramid, strided)


@pytest.fixture(params=list(HeadEdgeCases.CASES))
def head_edge_case(request, head_edge_cases):
    """Each edge case, as a check(module, run); a test parametrises it
    (indirectly) where a module leaves some out."""
    return getattr(head_edge_cases, request.param)
