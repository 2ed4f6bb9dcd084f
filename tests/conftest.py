import pytest
import torch

from sapa_mm.ops import emulation


def _cuda_emulation(kernels):
    """CPU tensors, with the sapa_mm ops on the emulated CUDA path."""
    return pytest.param(
        'cpu',
        id=f'cuda_emulation-{kernels}',
        marks=[
            pytest.mark.cuda_emulation(kernels),
            pytest.mark.skipif(
                not emulation.AVAILABLE,
                reason='sapa_mm._ext was built without the CUDA emulation')
        ])


# Where a test takes a device, it runs on the CPU kernels, on a GPU where
# there is one, and on the CUDA code path emulated on the CPU with each
# kernel set (select those with -k cuda_emulation).
DEVICES = [
    'cpu',
    pytest.param(
        'cuda',
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason='requires a CUDA GPU')),
    _cuda_emulation('fast'),
    _cuda_emulation('simple'),
]
# Emulated launches take at most this many blocks, so that the kernels'
# grid-stride loops run even on small test problems.
EMULATION_MAX_BLOCKS = 3


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'cuda_emulation(kernels): run the sapa_mm ops of the test '
        'on the CUDA code path emulated on the CPU')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _emulated_cuda(request):
    marker = request.node.get_closest_marker('cuda_emulation')
    if marker is None:
        yield
        return
    with emulation.cuda_emulation(marker.args[0], EMULATION_MAX_BLOCKS):
        yield
