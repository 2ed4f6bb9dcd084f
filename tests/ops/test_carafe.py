"""sapa_mm.ops.carafe: CARAFE's reassembly on the aggregate kernels, as its
definition written out and as mmcv's CUDA op."""
import pytest
import torch

from sapa_mm.ops.carafe import carafe_reassemble


@pytest.mark.parametrize('K, G, s', [(5, 1, 2), (3, 2, 2), (3, 1, 3),
                                     (1, 1, 2)])
def test_carafe_reassemble_matches_definition(K, G, s, carafe_by_definition):
    features = torch.randn(2, 4, 3, 4, dtype=torch.float64)
    masks = torch.randn(2, G * K * K, 3 * s, 4 * s, dtype=torch.float64)
    torch.testing.assert_close(
        carafe_reassemble(features, masks, K, G, s),
        carafe_by_definition(features, masks, K, G))


def test_carafe_reassemble_errors():
    with pytest.raises(ValueError, match='divisible by group_size=3'):
        carafe_reassemble(torch.randn(1, 4, 2, 2), torch.randn(1, 27, 4, 4),
                          3, 3, 2)
    with pytest.raises(ValueError, match=r'masks must have shape'):
        carafe_reassemble(torch.randn(1, 4, 2, 2), torch.randn(1, 9, 5, 4), 3,
                          1, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='requires CUDA')
def test_carafe_cpu_path_matches_mmcv_cuda():
    pytest.importorskip('mmcv.ops')
    from mmcv.ops import carafe
    features = torch.randn(2, 16, 9, 7)
    masks = torch.randn(2, 2 * 25, 18, 14).softmax(1)
    expected = carafe(features.cuda(), masks.cuda(), 5, 2, 2).cpu()
    torch.testing.assert_close(
        carafe_reassemble(features, masks, 5, 2, 2), expected, atol=1e-5,
        rtol=1e-5)
