"""Fixtures shared by the whole suite: the devices a test runs on (with the
CUDA code path emulated on the CPU), the seed, the repository root, the
mini datasets and a recorder of the sapa_mm ops that run."""
import os.path as osp
from contextlib import contextmanager

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from sapa_mm import ops
from sapa_mm.ops import emulation

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


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


# Where a test takes the `device` fixture, it runs on the CPU kernels, on a
# GPU where there is one, and on the CUDA code path emulated on the CPU with
# each kernel set (select those with -k cuda_emulation).
DEVICES = [
    'cpu',
    pytest.param(
        'cuda',
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason='requires a CUDA GPU')),
    _cuda_emulation('fast'),
    _cuda_emulation('simple'),
]


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'cuda_emulation(kernels): run the sapa_mm ops of the test '
        'on the CUDA code path emulated on the CPU')


@pytest.fixture(params=DEVICES)
def device(request):
    """'cpu', 'cuda' and the emulated CUDA path (on CPU tensors)."""
    return request.param


@pytest.fixture(scope='session')
def emulation_max_blocks():
    """Emulated launches take at most this many blocks, so that the kernels'
    grid-stride loops run even on small test problems."""
    return 3


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _emulated_cuda(request, emulation_max_blocks):
    marker = request.node.get_closest_marker('cuda_emulation')
    if marker is None:
        yield
        return
    with emulation.cuda_emulation(marker.args[0], emulation_max_blocks):
        yield


@pytest.fixture
def needs_ext():
    """Skips the test where sapa_mm._ext is not built (use it with
    ``pytest.mark.usefixtures('needs_ext')``)."""
    if not ops.HAS_EXT:
        pytest.skip('sapa_mm._ext is not built')


@pytest.fixture(scope='session')
def repo_root():
    """The repository's root directory."""
    return ROOT


class _OpRecorder(TorchDispatchMode):
    """Records the name of every op that reaches the dispatcher."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.name())
        return func(*args, **(kwargs or {}))


@pytest.fixture
def sapa_mm_ops():
    """A context manager that records the ``sapa_mm::*`` ops dispatched in
    it (forward and backward, in order) into the list it yields."""

    @contextmanager
    def record():
        seen = []
        with _OpRecorder() as recorder:
            yield seen
        seen.extend(name for name in recorder.ops
                    if name.startswith('sapa_mm::'))

    return record


@pytest.fixture(scope='session')
def carafe_by_definition():
    """CARAFE's reassembly written out point by point (tiny inputs), to the
    masks' size (H, W): output (i, j) reads the K x K window around
    (floor(i * h / H), floor(j * w / W)), (i // s, j // s) for a scale s."""

    def carafe_by_definition(features, masks, K, G):
        N, C, h, w = features.shape
        H, W = masks.shape[-2:]
        out = features.new_zeros(N, C, H, W)
        r = K // 2
        for i in range(H):
            for j in range(W):
                for c in range(C):
                    g = c // (C // G)
                    for ky in range(K):
                        for kx in range(K):
                            y, x = i * h // H + ky - r, j * w // W + kx - r
                            if 0 <= y < h and 0 <= x < w:
                                m = masks[:, g * K * K + ky * K + kx, i, j]
                                out[:, c, i, j] += m * features[:, c, y, x]
        return out

    return carafe_by_definition


@pytest.fixture(scope='session')
def mini_ade20k(tmp_path_factory):
    """A mini ADE20K, 8 training and 4 validation images."""
    from sapa_mm.datasets import make_ade20k
    return make_ade20k(str(tmp_path_factory.mktemp('mini')), num_train=8,
                       num_val=4)


@pytest.fixture(scope='session')
def mini_coco(tmp_path_factory):
    """A mini COCO, 8 training and 4 validation images."""
    from sapa_mm.datasets import make_coco
    return make_coco(str(tmp_path_factory.mktemp('mini')), num_train=8,
                     num_val=4)


@pytest.fixture(scope='session')
def mini_comp1k(tmp_path_factory):
    """A mini Composition-1K, 4 training and 2 test images."""
    from sapa_mm.datasets import make_comp1k
    return make_comp1k(str(tmp_path_factory.mktemp('mini')), num_train=4,
                       num_val=2)


@pytest.fixture(scope='session')
def mini_nyu(tmp_path_factory):
    """A mini NYU Depth V2, 8 training and 4 test images."""
    from sapa_mm.datasets import make_nyu
    return make_nyu(str(tmp_path_factory.mktemp('mini')), num_train=8,
                    num_val=4)


@pytest.fixture(scope='session')
def mini_data(mini_ade20k, mini_coco, mini_nyu):
    """The mini datasets' roots, by dataset."""
    return dict(ade20k=mini_ade20k, coco=mini_coco, nyu=mini_nyu)
