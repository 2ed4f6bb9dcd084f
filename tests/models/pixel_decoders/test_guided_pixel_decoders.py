"""sapa_mm.models.pixel_decoders.guided_pixel_decoders: MaskFormer's and
Mask2Former's pixel decoders with guided upsamplers, the same as mmdet's
with their own interpolation, and their edge cases."""
import copy

import pytest
import torch

pytest.importorskip('mmdet')
from mmdet.models.layers import MSDeformAttnPixelDecoder, PixelDecoder  # noqa: E402
from mmengine.config import ConfigDict  # noqa: E402

from sapa_mm.models import GuidedMSDeformAttnPixelDecoder, GuidedPixelDecoder  # noqa: E402


def test_guided_pixel_decoder_nearest_is_pixel_decoder(features):
    kwargs = dict(in_channels=[16, 32, 64, 128], feat_channels=32,
                  out_channels=32)
    upstream = PixelDecoder(**kwargs)
    upstream.init_weights()
    guided = GuidedPixelDecoder(upsample_cfg=dict(type='nearest'), **kwargs)
    guided.load_state_dict(upstream.state_dict(), strict=True)
    feats = features([16, 32, 64, 128])
    for a, b in zip(upstream(feats, None), guided(feats, None)):
        assert torch.equal(a, b)
    assert len(GuidedPixelDecoder(upsample_cfg=dict(type='SAPA-B'),
                                  **kwargs).upsamplers) == 3


MSDEFORM = dict(
    in_channels=[16, 32, 64, 128],
    strides=[4, 8, 16, 32],
    feat_channels=32,
    out_channels=32,
    num_outs=3,
    norm_cfg=dict(type='GN', num_groups=8),
    act_cfg=dict(type='ReLU'),
    encoder=ConfigDict(
        num_layers=1,
        layer_cfg=dict(
            self_attn_cfg=dict(
                embed_dims=32, num_heads=4, num_levels=3, num_points=2,
                im2col_step=64, dropout=0.0, batch_first=True,
                norm_cfg=None, init_cfg=None),
            ffn_cfg=dict(
                embed_dims=32, feedforward_channels=64, num_fcs=2,
                ffn_drop=0.0, act_cfg=dict(type='ReLU', inplace=True))),
        init_cfg=None),
    positional_encoding=dict(num_feats=16, normalize=True))


def test_guided_msdeformattn_bilinear_is_upstream(features):
    upstream = MSDeformAttnPixelDecoder(**copy.deepcopy(MSDEFORM))
    upstream.init_weights()
    guided = GuidedMSDeformAttnPixelDecoder(
        upsample_cfg=dict(type='bilinear'), **copy.deepcopy(MSDEFORM))
    guided.load_state_dict(upstream.state_dict(), strict=True)
    upstream.eval(), guided.eval()
    feats = features([16, 32, 64, 128])
    (mask_a, multi_a), (mask_b, multi_b) = upstream(feats), guided(feats)
    assert torch.equal(mask_a, mask_b)
    assert all(torch.equal(a, b) for a, b in zip(multi_a, multi_b))


def test_guided_msdeformattn_sapa(features):
    decoder = GuidedMSDeformAttnPixelDecoder(
        upsample_cfg=dict(type='SAPA-B'), **copy.deepcopy(MSDEFORM))
    decoder.init_weights()
    assert len(decoder.upsamplers) == 1
    mask, multi = decoder(features([16, 32, 64, 128]))
    assert mask.shape == (2, 32, 43, 33) and len(multi) == 3
    mask.sum().backward()
    assert all(p.grad is not None for p in decoder.upsamplers.parameters())


# --- edge cases (tests/models/conftest.py): an empty batch, the smallest
# images, channels-last inputs and meta tensors, with each of the edge
# cases' upsamplers


def pixel_decoder(channels, upsample_cfg):
    return GuidedPixelDecoder(upsample_cfg=upsample_cfg,
                              in_channels=channels, feat_channels=16,
                              out_channels=16,
                              norm_cfg=dict(type='GN', num_groups=4),
                              act_cfg=dict(type='ReLU'))


def msdeform_pixel_decoder(channels, upsample_cfg):
    layer = ConfigDict(
        self_attn_cfg=dict(embed_dims=16, num_heads=2, num_levels=3,
                           num_points=2, batch_first=True),
        ffn_cfg=dict(embed_dims=16, feedforward_channels=32, num_fcs=2,
                     ffn_drop=0.0, act_cfg=dict(type='ReLU', inplace=True)))
    return GuidedMSDeformAttnPixelDecoder(
        upsample_cfg=upsample_cfg, in_channels=channels,
        strides=[4, 8, 16, 32], feat_channels=16, out_channels=16,
        num_outs=3, norm_cfg=dict(type='GN', num_groups=4),
        act_cfg=dict(type='ReLU'),
        encoder=ConfigDict(num_layers=1, layer_cfg=layer),
        positional_encoding=ConfigDict(num_feats=8, normalize=True))


HEAD_EDGE_CASES = ['empty_batch', 'smallest_images', 'channels_last_inputs',
                   'meta_tensors']
# (builder, its outputs as a list)
DECODERS = {
    'pixel_decoder': (
        pixel_decoder,
        lambda m, f: list(m(f, None)[:1]) + list(m(f, None)[1:])),
    'msdeform_pixel_decoder': (msdeform_pixel_decoder,
                               lambda m, f: [m(f)[0], *m(f)[1]]),
}


@pytest.fixture
def decoder(request, head_upsample_cfg, head_channels, head_edge_cases):
    """(decoder, run) of the test's kind."""
    build, run = DECODERS[request.param]
    module = head_edge_cases.build(
        lambda cfg: build(head_channels, cfg), head_upsample_cfg)
    return module, run


# The meta-tensor case runs on the pixel decoder only.
@pytest.mark.parametrize('decoder, head_edge_case', [
    (kind, case) for kind in DECODERS for case in HEAD_EDGE_CASES
    if (kind, case) != ('msdeform_pixel_decoder', 'meta_tensors')
], indirect=True)
def test_edge_cases(decoder, head_edge_case):
    head_edge_case(*decoder)
