"""Checks an installation and fails loudly where a compiled op is missing.

    python tools/check_install.py              # after `make install`
    python tools/check_install.py --toolchain  # before building on a GPU

The installation: sapa_mm's kernels (CPU always; CUDA where torch sees a GPU
or FORCE_CUDA=1) and, where mmcv is installed, mmcv's compiled ops (with
CUDA where torch sees a GPU or FORCE_CUDA=1: mmdet's RoIAlign and NMS,
Mask2Former's MultiScaleDeformableAttention and CARAFE need them). A GPU
machine whose build silently fell back to the CPU would otherwise only show
at training time.

The toolchain, where CUDA ops are to be built: nvcc's major version equal
to the CUDA of the installed torch (torch's extension builder refuses
others) and setuptools with pkg_resources (mmcv 2.1's setup.py imports it).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
from importlib.util import find_spec


def _wants_cuda(torch) -> bool:
    return torch.cuda.is_available() or os.getenv('FORCE_CUDA', '0') == '1'


def toolchain_problems() -> list:
    import torch
    problems = []
    if find_spec('pkg_resources') is None:
        problems.append("setuptools has no pkg_resources (it was removed in "
                        "setuptools 82), which mmcv 2.1's setup.py imports: "
                        "pip install 'setuptools<70'")
    if not _wants_cuda(torch):
        return problems
    if torch.version.cuda is None:
        problems.append(f'a GPU build is wanted, but torch '
                        f'{torch.__version__} is a CPU build: install a '
                        'CUDA build of torch (see the README, "Install on a '
                        'GPU machine")')
        return problems
    nvcc = shutil.which('nvcc')
    cuda_home = os.getenv('CUDA_HOME')
    if cuda_home:
        nvcc = os.path.join(cuda_home, 'bin', 'nvcc')
    if nvcc is None or not os.path.exists(nvcc):
        problems.append('no nvcc found (put it on PATH or set CUDA_HOME): '
                        'the CUDA ops cannot be compiled')
        return problems
    out = subprocess.run([nvcc, '--version'], capture_output=True,
                         text=True).stdout
    match = re.search(r'release (\d+)\.(\d+)', out)
    torch_major = torch.version.cuda.split('.')[0]
    if match and match[1] != torch_major:
        problems.append(
            f'nvcc is CUDA {match[1]}.{match[2]} but torch {torch.__version__}'
            f' was built with CUDA {torch.version.cuda}: torch\'s extension '
            f'builder refuses a different major version. Install the torch '
            f'build for CUDA {match[1]} or the CUDA {torch_major} toolkit.')
    return problems


def installation_problems() -> list:
    import torch

    import sapa_mm
    problems, notes = [], []
    notes.append(f'torch {torch.__version__} (CUDA {torch.version.cuda}), '
                 f'GPU visible: {torch.cuda.is_available()}')
    if not sapa_mm.HAS_EXT:
        problems.append('sapa_mm._ext is not built: the SAPA ops run on the '
                        'pure-PyTorch reference (`make ext` builds it)')
    else:
        from sapa_mm.ops import emulation
        from sapa_mm.ops.extension import _ext
        notes.append(f'sapa_mm._ext: CPU kernels ({_ext.cpu_capability()}), '
                     f'CUDA kernels: {sapa_mm.EXT_HAS_CUDA}, CUDA emulation: '
                     f'{emulation.AVAILABLE}')
        if _wants_cuda(torch) and not sapa_mm.EXT_HAS_CUDA:
            problems.append('sapa_mm._ext has no CUDA kernels although a GPU '
                            'build is wanted (see the build log, or rebuild '
                            'with FORCE_CUDA=1 `make ext`)')
    if find_spec('mmcv') is not None:
        import mmcv
        try:
            from mmcv.ops import get_compiling_cuda_version
        except ImportError as error:  # mmcv without its compiled ops
            problems.append(f'mmcv {mmcv.__version__} has no compiled ops '
                            f'({error}): build it with MMCV_WITH_OPS=1 and '
                            '--no-build-isolation')
        else:
            cuda = get_compiling_cuda_version()
            notes.append(f'mmcv {mmcv.__version__}: compiled ops, CUDA '
                         f'{cuda}')
            if _wants_cuda(torch) and cuda == 'not available':
                problems.append(f'mmcv {mmcv.__version__} was built without '
                                'CUDA ops although a GPU build is wanted')
    for note in notes:
        print(f'check_install: {note}')
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--toolchain', action='store_true',
                        help='check the build toolchain instead')
    args = parser.parse_args()
    problems = toolchain_problems() if args.toolchain else \
        installation_problems()
    for problem in problems:
        print(f'check_install: ERROR: {problem}', file=sys.stderr)
    if not problems:
        print('check_install: ' + ('toolchain ok' if args.toolchain else
                                   'installation ok'))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
