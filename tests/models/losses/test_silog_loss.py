"""sapa_mm.models.losses.silog_loss: BTS's scale-invariant log loss against
a hand computation, its valid-pixel mask, and its errors."""
import math

import pytest
import torch

pytest.importorskip('mmseg')
from mmseg.registry import MODELS  # noqa: E402

from sapa_mm.models import BTSSiLogLoss  # noqa: E402
from sapa_mm.models.losses import bts_silog_loss  # noqa: E402


def test_loss_equals_a_hand_computation():
    pred = torch.tensor([[[[1.0, 2.0], [4.0, 3.0]]]])
    gt = torch.tensor([[[[2.0, 2.0], [0.05, 1.0]]]])  # 0.05: invalid
    # d = log(pred / gt) over the 3 valid pixels: log 0.5, 0, log 3
    d = [math.log(0.5), 0.0, math.log(3.0)]
    mean_sq = sum(x * x for x in d) / 3
    mean = sum(d) / 3
    expected = 10 * math.sqrt(mean_sq - 0.85 * mean * mean)
    assert bts_silog_loss(pred, gt).item() == pytest.approx(expected,
                                                            rel=1e-6)
    loss = MODELS.build(dict(type='BTSSiLogLoss', loss_weight=2.0))
    assert loss.loss_name == 'loss_silog'
    assert loss(pred, gt).item() == pytest.approx(2 * expected, rel=1e-6)
    # max_depth leaves out the 2 m pixels too: d = log 3 alone
    one = bts_silog_loss(pred, gt, max_depth=1.5).item()
    assert one == pytest.approx(10 * math.sqrt(0.15) * math.log(3.0),
                                rel=1e-6)


def test_loss_is_over_the_whole_batch_and_scale_invariant_at_lambda_1():
    torch.manual_seed(0)
    pred = torch.rand(2, 1, 5, 7) + 0.5
    gt = torch.rand(2, 1, 5, 7) * 5 + 0.5
    d = (pred.log() - gt.log()).flatten()
    expected = 10 * torch.sqrt(d.square().mean() - 0.85 * d.mean() ** 2)
    torch.testing.assert_close(bts_silog_loss(pred, gt), expected)
    # lambda = 1: a global scale of the prediction costs nothing
    torch.testing.assert_close(
        bts_silog_loss(3 * pred, gt, variance_focus=1.0),
        bts_silog_loss(pred, gt, variance_focus=1.0))


def test_loss_gradients_stay_finite():
    gt = torch.rand(1, 1, 4, 4) + 1
    pred = gt.clone().requires_grad_()
    loss = bts_silog_loss(pred, gt)  # a perfect prediction
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    # no valid pixel: 0 with a gradient
    pred = torch.rand(1, 1, 4, 4, requires_grad=True)
    loss = bts_silog_loss(pred, torch.zeros(1, 1, 4, 4))
    assert loss.item() == 0
    loss.backward()
    assert (pred.grad == 0).all()


def test_loss_errors():
    pred = torch.rand(1, 1, 4, 4)
    with pytest.raises(TypeError, match='target must be a floating-point'):
        bts_silog_loss(pred, torch.ones(1, 1, 4, 4, dtype=torch.uint16))
    with pytest.raises(ValueError, match=r'one shape.*\(1, 1, 4, 4\).*'
                       r'\(1, 1, 4, 5\)'):
        bts_silog_loss(pred, torch.rand(1, 1, 4, 5))
    with pytest.raises(ValueError, match='variance_focus'):
        BTSSiLogLoss(variance_focus=1.5)
    with pytest.raises(ValueError, match='max_depth must exceed'):
        BTSSiLogLoss(min_depth=1.0, max_depth=0.5)
