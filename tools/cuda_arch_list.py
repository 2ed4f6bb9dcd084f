"""The CUDA architectures to build for where no GPU is visible.

    python tools/cuda_arch_list.py     # prints e.g. "7.5;8.0;8.6;8.9;9.0+PTX"

Used by setup.py (sapa-mm's kernels) and by the Makefile (mmcv's build)
when TORCH_CUDA_ARCH_LIST is unset: torch's own choice then fails on an
empty list.
"""
import os
import re
import subprocess


def nvcc_version(cuda_home: str):
    """(major, minor) of CUDA_HOME's nvcc, or None."""
    try:
        out = subprocess.run([os.path.join(cuda_home, 'bin', 'nvcc'),
                              '--version'], capture_output=True, text=True,
                             timeout=60).stdout
    except OSError:
        return None
    match = re.search(r'release (\d+)\.(\d+)', out)
    return (int(match[1]), int(match[2])) if match else None


def default_cuda_arch_list() -> str:
    """Those the installed torch was built for, so the kernels run wherever
    torch does, with PTX for the newest so that newer GPUs JIT it. A
    CPU-only torch (compile checks) gets the usual list of the nvcc."""
    import torch
    from torch.utils.cpp_extension import CUDA_HOME
    arches = []
    if hasattr(torch._C, '_cuda_getArchFlags'):
        for flag in torch._C._cuda_getArchFlags().split():
            match = re.fullmatch(r'sm_(\d+)(\d)', flag)
            if match:
                arches.append(f'{match[1]}.{match[2]}')
    if not arches:
        version = nvcc_version(CUDA_HOME or '/usr/local/cuda') or (12, 0)
        arches = ['8.0', '8.6', '8.9', '9.0']
        arches.insert(0, '7.5' if version >= (13, 0) else '7.0')
        if version >= (12, 8):
            arches += ['10.0', '12.0']
    arches = sorted(set(arches), key=lambda a: tuple(map(int, a.split('.'))))
    return ';'.join(arches[:-1] + [arches[-1] + '+PTX'])


if __name__ == '__main__':
    print(default_cuda_arch_list())
