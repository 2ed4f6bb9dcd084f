"""sapa_mm.models.decode_heads.guided_segformer_head: SegFormer's head with
a cascade of guided upsamplers, each step guided by the finer stage, and
its edge cases."""
import pytest

pytest.importorskip('mmseg')
from sapa_mm.models import GuidedSegformerHead  # noqa: E402


@pytest.mark.parametrize('upsample', [
    dict(type='bilinear'), dict(type='GuidedCARAFE'), dict(type='IndexNet'),
    dict(type='A2U', norm_groups=8), dict(type='SAPA-B')
])
def test_guided_segformer_head_cascade(upsample, features):
    head = GuidedSegformerHead(
        upsample_cfg=upsample, in_channels=[8, 16, 24, 32],
        in_index=[0, 1, 2, 3], channels=16, num_classes=5)
    head.init_weights()
    # stage i has i steps: 0 + 1 + 2 + 3 = 6 upsamplers
    assert [len(steps) for steps in head.upsamplers] == [0, 1, 2, 3]
    inputs = features([8, 16, 24, 32])
    out = head(inputs)
    assert out.shape == (2, 5, 43, 33)
    out.sum().backward()


def test_guided_segformer_head_guides_each_step_with_the_finer_stage(
        features, odd_sizes):
    head = GuidedSegformerHead(
        upsample_cfg=dict(type='SAPA-I'), in_channels=[4, 4, 4, 4],
        in_index=[0, 1, 2, 3], channels=4, num_classes=2)
    calls = []
    for stage, steps in enumerate(head.upsamplers):
        for step, up in enumerate(steps):
            up.register_forward_hook(
                lambda m, args, out, s=stage, k=step: calls.append(
                    (s, k, tuple(args[0].shape[-2:]),
                     tuple(args[1].shape[-2:]))))
    head(features([4, 4, 4, 4], odd_sizes))
    sizes = odd_sizes
    expected = [(s, k, sizes[s - k], sizes[s - k - 1]) for s in range(4)
                for k in range(s)]
    assert calls == expected


# --- edge cases (tests/models/conftest.py): an empty batch, the smallest
# images, channels-last inputs and meta tensors, with each of the edge
# cases' upsamplers


@pytest.fixture
def head(head_upsample_cfg, head_channels, head_edge_cases):
    return head_edge_cases.build(
        lambda cfg: GuidedSegformerHead(
            upsample_cfg=cfg, in_channels=head_channels,
            in_index=[0, 1, 2, 3], channels=16, num_classes=3),
        head_upsample_cfg)


def run(module, feats):
    return [module(feats)]


def test_edge_cases(head, head_edge_case):
    head_edge_case(head, run)
