"""sapa_mm.models.upsamplers.indexnet: IndexNet, one of the paper's
baselines, against its steps written out, at the paper's size, with the
paper's parameter count, OpenMMLab's norm_cfg, low precision and a GPU."""
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('mmengine')
from sapa_mm.models import IndexNet, build_guided_upsampler  # noqa: E402


def nearest_by_index(x, H, W):
    """x (B, C, h, w) at (H, W), output (i, j) reading (i*h // H, j*w // W)."""
    h, w = x.shape[-2:]
    rows = torch.arange(H) * h // H
    cols = torch.arange(W) * w // W
    return x[:, :, rows][:, :, :, cols]


@pytest.fixture
def indexnet_by_steps(even_padded):
    """IndexNet's steps as the issue states them, with the layer's weights,
    at the guide's even size, cropped."""

    def by_steps(layer, x, guide):
        H, W = guide.shape[-2:]
        guide = even_padded(guide)
        conv4x4, bn, _, conv1x1 = layer.index_net
        t = F.conv2d(guide, conv4x4.weight, stride=2, padding=1)
        if layer.training:
            t = F.batch_norm(t, None, None, bn.weight, bn.bias, True, 0.,
                             bn.eps)
        else:
            t = F.batch_norm(t, bn.running_mean, bn.running_var, bn.weight,
                             bn.bias, False, 0., bn.eps)
        t = F.conv2d(t.clamp(0, 6), conv1x1.weight)  # ReLU6, 1x1 conv
        index = torch.sigmoid(F.pixel_shuffle(torch.sigmoid(t), 2))
        up = nearest_by_index(x, *guide.shape[-2:])
        return (index * up)[..., :H, :W]

    return by_steps


@pytest.mark.parametrize('training', [True, False])
def test_indexnet_matches_its_steps(baseline_size, training, randomize,
                                    assert_matches_steps, indexnet_by_steps):
    h, w, H, W = baseline_size
    layer = randomize(IndexNet(5, 6)).train(training)
    assert_matches_steps(layer, indexnet_by_steps, ((5, h, w), (6, H, W)))


def test_indexnet_forward_backward(paper_size, check_forward_backward):
    """The paper's C = Cg = 256 at 2x and at an odd size: every parameter
    and both inputs get a finite gradient."""
    check_forward_backward(IndexNet, *paper_size)


def test_indexnet_parameter_count(n_params):
    # The paper's columns: 6 (SegFormer), 3 (MaskFormer, FPN) and 1
    # (Mask2Former) modules of C = Cg = 256.
    def per_module(c):
        return 32 * c * c + 12 * c  # 4x4 conv, BN, 1x1 conv

    assert n_params(IndexNet(256)) == per_module(256)
    assert n_params(IndexNet(64, 128)) == per_module(128)
    assert round(6 * n_params(IndexNet(256)) / 1e6, 2) == 12.60


@pytest.mark.parametrize('kwargs, match', [
    (dict(in_channels=0), 'in_channels must be a positive'),
    (dict(in_channels=8, norm_cfg=dict(type='GN')),
     'norm_cfg must be a dict with type in'),
])
def test_indexnet_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IndexNet(**kwargs)


def test_indexnet_low_precision_and_autocast(
        check_low_precision_and_autocast):
    check_low_precision_and_autocast(IndexNet)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='requires CUDA')
def test_indexnet_on_cuda(check_on_cuda):
    """On a GPU, as on the CPU, forward and backward."""
    check_on_cuda(IndexNet)


def test_indexnet_norm_cfg():
    """norm_cfg as OpenMMLab writes it; a config's SyncBN becomes BN where
    the tools run on CPU, as the models' own."""
    from sapa_mm.engine.runner import _replace_sync_bn
    cfg = dict(type='IndexNet', norm_cfg=dict(type='SyncBN', momentum=0.01,
                                              requires_grad=False))
    bn = build_guided_upsampler(cfg, 8, 8).index_net[1]
    assert isinstance(bn, torch.nn.SyncBatchNorm) and bn.momentum == 0.01
    assert not any(p.requires_grad for p in bn.parameters())
    _replace_sync_bn(cfg)
    bn = build_guided_upsampler(cfg, 8, 8).index_net[1]
    assert type(bn) is torch.nn.BatchNorm2d


@pytest.fixture
def m2o_by_steps(even_padded):
    """IndexNet matting's depthwise M2O block written out point by point:
    index (b, c, 2i + dy, 2j + dx) is the sigmoid of branch 2 dy + dx's
    channel c at (i, j)."""

    def by_steps(layer, x, guide):
        H, W = guide.shape[-2:]
        guide = even_padded(guide)
        branches = []
        for conv4x4, bn, _, conv1x1 in layer.index_nets:
            t = F.conv2d(guide, conv4x4.weight, stride=2, padding=1)
            t = F.batch_norm(t, bn.running_mean, bn.running_var, bn.weight,
                             bn.bias, False, 0., bn.eps)
            branches.append(torch.sigmoid(F.conv2d(t.clamp(0, 6),
                                                   conv1x1.weight)))
        B, C, h, w = branches[0].shape
        index = guide.new_zeros(B, C, 2 * h, 2 * w)
        for k, branch in enumerate(branches):
            index[:, :, k // 2::2, k % 2::2] = branch
        up = nearest_by_index(x, *guide.shape[-2:])
        return (index * up)[..., :H, :W]

    return by_steps


def test_depthwise_m2o_matches_its_steps(baseline_size, randomize,
                                         assert_matches_steps, m2o_by_steps):
    h, w, H, W = baseline_size
    layer = randomize(IndexNet(5, 6, index_block='depthwise_m2o')).eval()
    assert_matches_steps(layer, m2o_by_steps, ((5, h, w), (6, H, W)))


def test_depthwise_m2o_parameter_count(n_params):
    # 4 branches of 4x4 conv Cg -> rCg, BN, 1x1 conv rCg -> C.
    def per_module(c, cg, r):
        return 4 * (16 * cg * r * cg + 2 * r * cg + r * cg * c)

    for r in (1, 2):
        layer = IndexNet(64, 128, index_block='depthwise_m2o', hidden_ratio=r)
        assert n_params(layer) == per_module(64, 128, r)
    # The matting decoder's four stages (C = Cg = 256, 128, 64, 64): +6.13M
    # as IndexNet matting builds the branches (r = 1), +12.26M (the paper's)
    # at the holistic block's hidden width (r = 2): 136 C^2 + 16 C.
    widths = (256, 128, 64, 64)
    for r, paper in ((1, 6.13), (2, 12.26)):
        total = sum(n_params(IndexNet(c, index_block='depthwise_m2o',
                                      hidden_ratio=r)) for c in widths)
        assert round(total / 1e6, 2) == paper
    assert per_module(256, 256, 2) == 136 * 256**2 + 16 * 256
    # The holistic block's count is unchanged by the option's existence.
    assert n_params(IndexNet(256)) == 32 * 256 * 256 + 12 * 256


def test_index_block_errors():
    with pytest.raises(ValueError, match='index_block must be one of'):
        IndexNet(8, index_block='o2o')
    with pytest.raises(ValueError, match='hidden_ratio must be a positive'):
        IndexNet(8, hidden_ratio=0)
