"""sapa_mm.models.necks.guided_fpn: mmdet's FPN with guided upsamplers, the
same as FPN with nearest, at any input size, and its edge cases."""
import math

import pytest
import torch

pytest.importorskip('mmdet')
from mmdet.models.necks import FPN  # noqa: E402

from sapa_mm.models import GuidedFPN  # noqa: E402


def resnet_like_inputs(H, W, channels=(8, 16, 32, 64)):
    """Features at strides 4..32 of an (H, W) image, sized as ResNet's
    (ceil at every stride-2 step), so odd sizes give non-2x ratios."""
    feats, h, w = [], H, W
    for i, c in enumerate(channels):
        steps = 2 if i == 0 else 1
        for _ in range(steps):
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        feats.append(torch.randn(2, c, h, w))
    return feats


@pytest.mark.parametrize('kwargs', [
    dict(num_outs=5),
    dict(num_outs=5, add_extra_convs='on_input'),
    dict(num_outs=6, add_extra_convs='on_output',
         relu_before_extra_convs=True),
    dict(num_outs=5, start_level=1, add_extra_convs='on_lateral'),
    dict(num_outs=3, end_level=2),
    dict(num_outs=4, norm_cfg=dict(type='BN')),
])
def test_nearest_reproduces_mmdet_fpn(kwargs):
    fpn = FPN([8, 16, 32, 64], 16, **kwargs)
    fpn.init_weights()
    guided = GuidedFPN([8, 16, 32, 64], 16,
                       upsample_cfg=dict(type='nearest'), **kwargs)
    guided.load_state_dict(fpn.state_dict(), strict=True)
    fpn.eval(), guided.eval()
    for H, W in ((128, 96), (131, 97)):
        inputs = resnet_like_inputs(H, W)
        expected, outputs = fpn(inputs), guided(inputs)
        assert len(outputs) == len(expected) == kwargs['num_outs']
        for a, b in zip(outputs, expected):
            assert torch.equal(a, b)


@pytest.mark.parametrize('upsample', [
    dict(type='bilinear'), dict(type='GuidedCARAFE'), dict(type='IndexNet'),
    dict(type='A2U', norm_groups=8), dict(type='SAPA-I'), dict(type='SAPA-B'),
    dict(type='SAPA-G')
])
def test_guided_fpn_any_size(upsample):
    neck = GuidedFPN([8, 16, 32, 64], 16, num_outs=5, upsample_cfg=upsample)
    neck.init_weights()
    assert len(neck.upsamplers) == 3
    inputs = resnet_like_inputs(101, 67)  # 26x17 -> 51x34 -> ...
    outputs = neck(inputs)
    assert [o.shape[-2:] for o in outputs[:4]] == [
        i.shape[-2:] for i in inputs]
    sum(o.sum() for o in outputs).backward()
    assert all(p.grad is not None for p in neck.upsamplers.parameters())


def test_guided_fpn_keeps_carafe_initialisation():
    neck = GuidedFPN([8, 16, 32, 64], 16, num_outs=5,
                     upsample_cfg=dict(type='GuidedCARAFE'))
    neck.init_weights()
    # CARAFEPack initialises its content encoder with std 0.001, which FPN's
    # Xavier init_cfg would overwrite.
    for up in neck.upsamplers:
        assert up.content_encoder.weight.std() < 0.01


def test_guided_fpn_input_count():
    neck = GuidedFPN([8, 16], 16, num_outs=2)
    with pytest.raises(ValueError, match='expected 2 inputs, got 1'):
        neck([torch.randn(1, 8, 8, 8)])


# --- edge cases (tests/models/conftest.py): an empty batch, the smallest
# images, channels-last inputs and meta tensors, with each of the edge
# cases' upsamplers


@pytest.fixture
def neck(head_upsample_cfg, head_channels, head_edge_cases):
    return head_edge_cases.build(
        lambda cfg: GuidedFPN(head_channels, 16, num_outs=5,
                              upsample_cfg=cfg), head_upsample_cfg)


def run(module, feats):
    return list(module(feats))


def test_edge_cases(neck, head_edge_case):
    head_edge_case(neck, run)
