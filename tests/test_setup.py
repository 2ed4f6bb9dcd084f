"""setup.py's decisions, without compiling: the default CUDA architectures
(tools/cuda_arch_list.py), the CPU kernels kept when the CUDA ones fail, the
loud messages."""
import importlib.util
import os
import runpy

import pytest
import torch
from torch.utils import cpp_extension


@pytest.fixture
def cuda_arch_list(repo_root):
    """tools/cuda_arch_list.py, imported by its path."""
    spec = importlib.util.spec_from_file_location(
        'cuda_arch_list', os.path.join(repo_root, 'tools',
                                       'cuda_arch_list.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def setup_calls(monkeypatch):
    """The keyword arguments of every setuptools.setup() call, which does
    nothing."""
    calls = []
    monkeypatch.setattr('setuptools.setup', lambda **kwargs: calls.append(
        kwargs))
    return calls


@pytest.fixture
def setup_py(monkeypatch, repo_root, setup_calls):
    """setup.py's functions. Its setup() call, which runs on import, does
    nothing, and finds SAPA_MM_WITH_OPS=0; the tests' environment is
    restored after them."""
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv('MAX_JOBS', '1')
    monkeypatch.setenv('SAPA_MM_WITH_OPS', '0')
    namespace = runpy.run_path(os.path.join(repo_root, 'setup.py'))
    monkeypatch.delenv('SAPA_MM_WITH_OPS')
    return namespace


def _versions(arch_list):
    """[(major, minor)] of a TORCH_CUDA_ARCH_LIST, with its checks: PTX on
    the newest only, sorted, no repeats."""
    arches = arch_list.split(';')
    assert arches[-1].endswith('+PTX')
    assert not any(a.endswith('+PTX') for a in arches[:-1])
    versions = [tuple(map(int, a.replace('+PTX', '').split('.')))
                for a in arches]
    assert versions == sorted(set(versions))
    return versions


def test_default_cuda_arch_list(cuda_arch_list, setup_py):
    arch_list = cuda_arch_list.default_cuda_arch_list()
    versions = _versions(arch_list)
    assert (8, 0) in versions and (9, 0) in versions
    # setup.py builds for the same list.
    assert setup_py['_default_cuda_arch_list']() == arch_list


@pytest.mark.parametrize('nvcc, oldest, blackwell', [
    ((12, 0), (7, 0), False), ((12, 8), (7, 0), True),
    ((13, 0), (7, 5), True), (None, (7, 0), False)])
def test_cuda_arch_list_of_a_cpu_only_torch(cuda_arch_list, monkeypatch,
                                            nvcc, oldest, blackwell):
    """A torch built without CUDA gives no architectures: those of the
    nvcc's release (CUDA 12.0 where there is none)."""
    monkeypatch.setattr(torch._C, '_cuda_getArchFlags', lambda: '',
                        raising=False)
    monkeypatch.setattr(cuda_arch_list, 'nvcc_version', lambda home: nvcc)
    versions = _versions(cuda_arch_list.default_cuda_arch_list())
    assert versions[0] == oldest
    assert {(8, 0), (8, 6), (8, 9), (9, 0)} <= set(versions)
    assert ((10, 0) in versions and versions[-1] == (12, 0)) == blackwell


def test_nvcc_version(cuda_arch_list, tmp_path):
    assert cuda_arch_list.nvcc_version(str(tmp_path)) is None
    nvcc = tmp_path / 'bin' / 'nvcc'
    nvcc.parent.mkdir()
    nvcc.write_text('#!/bin/sh\necho "Cuda compilation tools, release 12.8, '
                    'V12.8.93"\n')
    nvcc.chmod(0o755)
    assert cuda_arch_list.nvcc_version(str(tmp_path)) == (12, 8)


def test_setup_without_the_kernels(capsys, setup_py, setup_calls):
    """SAPA_MM_WITH_OPS=0: setup() gets no extension, and says so."""
    assert setup_calls == [dict(ext_modules=[], cmdclass={})]
    assert 'SAPA_MM_WITH_OPS=0, skipping the compiled kernels' in \
        capsys.readouterr().out


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
    tools/cuda_arch_list.py's list, and when the CUDA extension fails to
    compile the same extension is built without it, loudly."""
    monkeypatch.setenv('FORCE_CUDA', '1')
    monkeypatch.setenv('TORCH_CUDA_ARCH_LIST', '')  # unset, restored after
    monkeypatch.setattr(cpp_extension, 'CUDA_HOME', '/usr/local/cuda')
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 0)
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
