"""Both CUDA translation units compile, wherever nvcc exists, with the flags
torch's CUDAExtension uses, for sm_80 and sm_90; they link together; and
ptxas reports no register spills in the kernels of the float types (double
kernels are not on any hot path)."""
import inspect
import os
import re
import shutil
import subprocess
import sysconfig

import pytest
from torch.utils import cpp_extension

ARCHES = ('80', '90')

pytestmark = pytest.mark.skipif(
    shutil.which('nvcc') is None, reason='nvcc not found')


def _cuda_include_dir():
    """The toolkit's include directory, as nvcc itself reports it."""
    dryrun = subprocess.run(
        ['nvcc', '--dryrun', '-c', '-x', 'cu', os.devnull, '-o', os.devnull],
        capture_output=True, text=True, timeout=120).stderr
    match = re.search(r'INCLUDES="-I([^"]+?)"', dryrun)
    assert match, dryrun[-2000:]
    return match[1].strip()


def _cxx_standard():
    """The C++ standard torch's extension builder compiles with."""
    source = inspect.getsource(cpp_extension.BuildExtension.build_extensions)
    return re.search(r"'c\+\+(\d+)'", source)[1]


def _common_flags(root):
    flags = [
        f'-std=c++{_cxx_standard()}', '-DWITH_CUDA',
        '-DSAPA_MM_CUDA_EMULATION', '-DTORCH_API_INCLUDE_EXTENSION_H',
        '-DTORCH_EXTENSION_NAME=_ext', '-O3', '-I',
        os.path.join(root, 'ops', 'include'), '-I',
        sysconfig.get_paths()['include'], '-I',
        _cuda_include_dir()
    ]
    for path in cpp_extension.include_paths():
        flags += ['-I', path]
        if os.path.isdir(os.path.join(path, 'c10', 'cuda')) and \
                not os.path.exists(os.path.join(
                    path, 'c10', 'cuda', 'impl', 'cuda_cmake_macros.h')):
            # A CPU-only torch wheel lacks this generated header.
            flags.append('-DC10_CUDA_NO_CMAKE_CONFIGURE_FILE')
    return flags


def parse_ptxas(log):
    """[(kernel, arch, registers, spill stores)] from nvcc -Xptxas -v."""
    rows, current = [], None
    for line in log.splitlines():
        match = re.search(r"Compiling entry function '(\S+)' for '(sm_\d+)'",
                          line)
        if match:
            current = [match[1], match[2], None, None]
            rows.append(current)
        elif current is not None:
            spills = re.search(r'(\d+) bytes spill stores', line)
            if spills:
                current[3] = int(spills[1])
            registers = re.search(r'Used (\d+) registers', line)
            if registers:
                current[2] = int(registers[1])
    names = subprocess.run(['c++filt'], input='\n'.join(r[0] for r in rows),
                           capture_output=True, text=True).stdout.splitlines()
    return [(re.sub(r'sapa_mm::cuda::|\(anonymous namespace\)::', '', name),
             arch, registers, spills)
            for name, (_, arch, registers, spills) in zip(names, rows)]


@pytest.fixture(scope='module')
def objects(tmp_path_factory, repo_root):
    """sapa_cuda.cu by nvcc and sapa_cuda_ops.cpp by the host compiler, as
    CUDAExtension builds them; returns the objects and ptxas's report."""
    out = tmp_path_factory.mktemp('cuda_build')
    common = _common_flags(repo_root)
    gencode = [f'-gencode=arch=compute_{a},code=sm_{a}' for a in ARCHES]
    cuda = os.path.join(repo_root, 'ops', 'cuda')
    nvcc = (['nvcc', '-c', os.path.join(cuda, 'sapa_cuda.cu'),
             '-o', str(out / 'sapa_cuda.o')] +
            cpp_extension.COMMON_NVCC_FLAGS +
            ['--compiler-options', "'-fPIC'", '--threads', '2', '-Xptxas',
             '-v'] + common + gencode)
    result = subprocess.run(nvcc, capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, result.stderr[-6000:]
    cxx = ([os.environ.get('CXX', 'c++'), '-c',
            os.path.join(cuda, 'sapa_cuda_ops.cpp'), '-o',
            str(out / 'sapa_cuda_ops.o'), '-fPIC', '-fopenmp'] + common)
    host = subprocess.run(cxx, capture_output=True, text=True, timeout=900)
    assert host.returncode == 0, host.stderr[-6000:]
    return out, result.stderr + result.stdout


def _symbols(path, kinds):
    listing = subprocess.run(['nm', str(path)], capture_output=True,
                             text=True).stdout
    return {
        line.split()[-1]
        for line in listing.splitlines()
        if len(line.split()) >= 2 and line.split()[-2] in kinds
    }


def test_both_units_compile_and_link(objects):
    out, _ = objects
    needed = {s for s in _symbols(out / 'sapa_cuda_ops.o', {'U'})
              if 'sapa_mm' in s}
    assert needed, 'sapa_cuda_ops.o calls no launcher'
    defined = _symbols(out / 'sapa_cuda.o', {'T', 'W'})
    assert needed <= defined, sorted(needed - defined)


def test_no_register_spills(objects):
    _, log = objects
    kernels = parse_ptxas(log)
    assert {arch for _, arch, _, _ in kernels} == {f'sm_{a}' for a in ARCHES}
    assert len(kernels) > 100  # every launcher's instantiations
    spilling = [k for k in kernels if k[3] and '<double' not in k[0]]
    assert not spilling, '\n'.join(map(str, spilling))
