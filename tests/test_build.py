"""setup.py's decisions, without compiling: the default CUDA architectures,
the CPU kernels kept when the CUDA ones fail, the loud messages."""
import os
import runpy

import pytest
from torch.utils import cpp_extension

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def setup_py(monkeypatch):
    """setup.py's functions (its setup() call runs only as __main__)."""
    monkeypatch.chdir(ROOT)
    return runpy.run_path(os.path.join(ROOT, 'setup.py'))


def test_default_cuda_arch_list(setup_py):
    arches = setup_py['default_cuda_arch_list']().split(';')
    assert arches[-1].endswith('+PTX')
    assert not any(a.endswith('+PTX') for a in arches[:-1])
    versions = [tuple(map(int, a.replace('+PTX', '').split('.')))
                for a in arches]
    assert versions == sorted(set(versions))
    assert (8, 0) in versions and (9, 0) in versions


def test_force_cuda_without_a_toolkit_builds_the_cpu_kernels(
        setup_py, monkeypatch, capsys):
    monkeypatch.setenv('FORCE_CUDA', '1')
    monkeypatch.setattr(cpp_extension, 'CUDA_HOME', None)
    extensions, cmdclass = setup_py['_extensions']()
    assert 'no CUDA toolkit was found' in capsys.readouterr().out
    (ext, ) = extensions
    assert not any(s.endswith('.cu') for s in ext.sources)
    assert ('WITH_CUDA', None) not in ext.define_macros


def test_failed_cuda_build_keeps_the_cpu_kernels(setup_py, monkeypatch,
                                                 capsys):
    """FORCE_CUDA=1 with no GPU visible: the architectures default to
    setup.py's list, and when the CUDA extension fails to compile the same
    extension is built without it, loudly."""
    monkeypatch.setenv('FORCE_CUDA', '1')
    monkeypatch.setenv('TORCH_CUDA_ARCH_LIST', '')  # unset, restored after
    monkeypatch.setattr(cpp_extension, 'CUDA_HOME', '/usr/local/cuda')
    extensions, cmdclass = setup_py['_extensions']()
    assert os.environ['TORCH_CUDA_ARCH_LIST'].endswith('+PTX')
    (cuda_ext, ) = extensions
    assert any(s.endswith('.cu') for s in cuda_ext.sources)
    built = []

    def build(self, ext):
        if ext is cuda_ext:
            raise RuntimeError('nvcc: simulated failure')
        built.append(ext)

    monkeypatch.setattr(cpp_extension.BuildExtension, 'build_extension',
                        build)
    from setuptools import Distribution
    command = cmdclass['build_ext'](Distribution())
    command.build_extension(cuda_ext)
    (cpu_ext, ) = built
    assert cpu_ext.name == cuda_ext.name == 'sapa_mm._ext'
    assert not any(s.endswith('.cu') for s in cpu_ext.sources)
    assert ('WITH_CUDA', None) not in cpu_ext.define_macros
    assert set(cpu_ext.sources) < set(cuda_ext.sources)
    out = capsys.readouterr().out
    assert 'the CUDA kernels failed to compile (nvcc: simulated failure)' in \
        out
    assert 'Building the CPU kernels alone' in out and '!' * 78 in out
