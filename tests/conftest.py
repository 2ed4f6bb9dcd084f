import pytest
import torch

DEVICES = [
    'cpu',
    pytest.param(
        'cuda',
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason='requires a CUDA GPU')),
]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
