"""sapa_mm.models.upsamplers.a2u: A2U, one of the paper's baselines,
against its steps written out, at the paper's size, with the paper's
parameter count, low precision and a GPU (mmcv's carafe at 2x, the SAPA
kernels otherwise)."""
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('mmengine')
from sapa_mm.models import A2U  # noqa: E402


@pytest.fixture
def a2u_by_steps(even_padded, carafe_by_definition):
    """A2U's steps as the issue states them, image by image and channel by
    channel, with the layer's weights, at the guide's even size, cropped;
    the reassembly written out point by point."""

    def by_steps(layer, x, guide):
        H, W = guide.shape[-2:]
        guide = even_padded(guide)
        s, k = layer.up_kernel, layer.encoder_kernel
        outs = []
        for b in range(guide.shape[0]):
            g = guide[b:b + 1]
            p = layer.kernel_weights(g.mean((2, 3), keepdim=True))  # 4s^2
            encoded = []
            for encoder, norm in ((layer.encoder_u, layer.norm_u),
                                  (layer.encoder_v, layer.norm_v)):
                kernel = encoder(F.adaptive_avg_pool2d(g, k))  # (1, 1, k, k)
                t = torch.cat([
                    F.conv2d(g[:, c:c + 1], kernel, stride=2,
                             padding=(k - 1) // 2) for c in range(g.shape[1])
                ], 1)
                t = F.group_norm(t, norm.num_groups, norm.weight, norm.bias,
                                 norm.eps)
                encoded.append(F.leaky_relu(t))
            a = (encoded[0] * encoded[1]).sum(1, keepdim=True) / \
                g.shape[1]**.5
            logits = a * p.reshape(1, 4 * s * s, 1, 1)  # the dynamic 1x1 conv
            masks = torch.sigmoid(F.pixel_shuffle(logits, 2)).softmax(1)
            outs.append(carafe_by_definition(x[b:b + 1], masks, s, 1))
        return torch.cat(outs)[..., :H, :W]

    return by_steps


def test_a2u_matches_its_steps(baseline_size, randomize, assert_matches_steps,
                               a2u_by_steps):
    h, w, H, W = baseline_size
    layer = randomize(A2U(3, 4, norm_groups=2))
    assert_matches_steps(layer, a2u_by_steps, ((3, h, w), (4, H, W)))


def test_a2u_other_kernel_sizes(randomize, assert_matches_steps,
                                a2u_by_steps):
    layer = randomize(A2U(3, 4, up_kernel=5, encoder_kernel=3,
                          norm_groups=4))
    assert_matches_steps(layer, a2u_by_steps, ((3, 3, 4), (4, 5, 8)))


def test_a2u_forward_backward(paper_size, check_forward_backward):
    """The paper's C = Cg = 256 at 2x and at an odd size: every parameter
    and both inputs get a finite gradient."""
    check_forward_backward(A2U, *paper_size)


def test_a2u_parameter_count(n_params):
    # The paper's columns: 6 (SegFormer), 3 (MaskFormer, FPN) and 1
    # (Mask2Former) modules of C = Cg = 256.
    def per_module(c):
        return (c + 1) * 36 + 2 * (c + 1) + 4 * c  # p, u & v, GNs

    assert n_params(A2U(256)) == per_module(256)
    assert n_params(A2U(64, 128)) == per_module(128)
    assert round(6 * n_params(A2U(256)) / 1e6, 2) == 0.06


@pytest.mark.parametrize('kwargs, match', [
    (dict(in_channels=8, guide_channels=20), 'norm_groups must '
     'divide guide_channels'),
    (dict(in_channels=64, up_kernel=4), 'odd and positive'),
    (dict(in_channels=64, encoder_kernel=0), 'encoder_kernel must'),
])
def test_a2u_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        A2U(**kwargs)


def test_a2u_low_precision_and_autocast(check_low_precision_and_autocast):
    check_low_precision_and_autocast(A2U)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='requires CUDA')
def test_a2u_on_cuda(check_on_cuda):
    """On a GPU (mmcv's carafe at 2x, the SAPA kernels otherwise), as on
    the CPU, forward and backward."""
    check_on_cuda(A2U)
