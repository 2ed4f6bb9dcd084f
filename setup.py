"""Build the compiled kernels of sapa-mm (the metadata is in pyproject.toml).

The compiled kernels live in one extension, ``sapa_mm._ext``, built from
``ops/``: the CPU kernels (OpenMP) and the CPU emulation of the CUDA code path
always, and the CUDA kernels when torch sees a GPU or ``FORCE_CUDA=1``. If the
CUDA kernels fail to compile, the extension is built again without them and
the build says so; if nothing compiles (no compiler, or
``SAPA_MM_WITH_OPS=0``), sapa_mm falls back to its pure-PyTorch reference.
``import sapa_mm`` warns where a GPU is visible but the CUDA kernels are
missing.

Environment variables:
    SAPA_MM_WITH_OPS=0        do not build the extension.
    FORCE_CUDA=1              build the CUDA kernels without a visible GPU.
    TORCH_CUDA_ARCH_LIST      CUDA architectures, e.g. "8.0;9.0+PTX" (torch's
                              variable). Unset, torch compiles for the visible
                              GPUs; with none, sapa-mm takes the architectures
                              of the torch build (or, for a CPU-only torch,
                              those of the nvcc found), PTX on the newest.
    SAPA_MM_CUDA_EMULATION=0  leave out the CPU emulation of the CUDA code
                              path (the tests need it; it needs glibc).
    SAPA_MM_NVCC_FLAGS        extra nvcc flags, space separated.
    MAX_JOBS                  parallel compile jobs (default: CPU count).
"""
import glob
import importlib.util
import os
import platform

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))
BANNER = '!' * 78


def _say(*lines: str, loud: bool = False) -> None:
    if loud:
        print(BANNER)
    for line in lines:
        print(f'sapa_mm: {line}')
    if loud:
        print(BANNER)


def _default_cuda_arch_list() -> str:
    """tools/cuda_arch_list.py's list (the Makefile takes it for mmcv)."""
    spec = importlib.util.spec_from_file_location(
        'cuda_arch_list', os.path.join(ROOT, 'tools', 'cuda_arch_list.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.default_cuda_arch_list()


def _with_emulation() -> bool:
    """The emulation runs CUDA threads as ucontext fibers (glibc, Linux)."""
    if os.getenv('SAPA_MM_CUDA_EMULATION', '1') == '0':
        return False
    return platform.system() == 'Linux' and platform.libc_ver()[0] == 'glibc'


def _extensions():
    if os.getenv('SAPA_MM_WITH_OPS', '1') == '0':
        _say('SAPA_MM_WITH_OPS=0, skipping the compiled kernels')
        return [], {}
    try:
        import torch
    except ImportError:
        # Under pip's build isolation torch is not importable: install with
        # --no-build-isolation to get the kernels.
        _say('torch is not importable at build time, skipping the compiled '
             'kernels (use pip install --no-build-isolation)', loud=True)
        return [], {}
    from torch.utils.cpp_extension import (
        CUDA_HOME,
        BuildExtension,
        CppExtension,
        CUDAExtension,
    )

    os.environ.setdefault('MAX_JOBS', str(os.cpu_count() or 1))
    cpu_sources = ['ops/sapa.cpp'] + sorted(glob.glob('ops/cpu/*.cpp'))
    macros = []
    if _with_emulation():
        cpu_sources += sorted(glob.glob('ops/emulation/*.cpp'))
        macros.append(('SAPA_MM_CUDA_EMULATION', None))
    kwargs = dict(
        include_dirs=[os.path.join(ROOT, 'ops', 'include')],
        extra_link_args=['-fopenmp'],
        # A failed compile leaves the pure-PyTorch path instead of no install.
        optional=True,
    )
    cxx_flags = ['-O3', '-fopenmp']

    def cpu_extension():
        return CppExtension('sapa_mm._ext', cpu_sources,
                            define_macros=macros,
                            extra_compile_args={'cxx': cxx_flags}, **kwargs)

    forced = os.getenv('FORCE_CUDA', '0') == '1'
    with_cuda = CUDA_HOME is not None and (torch.cuda.is_available() or forced)
    if forced and CUDA_HOME is None:
        _say('FORCE_CUDA=1 but no CUDA toolkit was found (set CUDA_HOME): '
             'building the CPU kernels only', loud=True)
    if not with_cuda:
        _say('compiling the CPU kernels only (no GPU visible; FORCE_CUDA=1 '
             'builds the CUDA kernels too)')
        return [cpu_extension()], {'build_ext': BuildExtension}

    if not os.getenv('TORCH_CUDA_ARCH_LIST') and \
            torch.cuda.device_count() == 0:
        arch_list = _default_cuda_arch_list()
        os.environ['TORCH_CUDA_ARCH_LIST'] = arch_list
        _say(f'no GPU visible and TORCH_CUDA_ARCH_LIST unset: building for '
             f'TORCH_CUDA_ARCH_LIST="{arch_list}"')
    _say('compiling the CPU and CUDA kernels')
    # --threads 0: nvcc compiles the architectures in parallel, a thread
    # per CPU (one translation unit holds nearly all the CUDA code).
    nvcc_flags = ['-O3', '--threads', '0'] + \
        os.getenv('SAPA_MM_NVCC_FLAGS', '').split()
    cuda_extension = CUDAExtension(
        'sapa_mm._ext',
        cpu_sources + sorted(glob.glob('ops/cuda/*.cu')) +
        sorted(glob.glob('ops/cuda/*.cpp')),
        define_macros=macros + [('WITH_CUDA', None)],
        extra_compile_args={'cxx': cxx_flags, 'nvcc': nvcc_flags},
        **kwargs)

    class KernelsBuild(BuildExtension):
        """Builds the CPU kernels whatever happens to the CUDA ones: a failed
        CUDA build is retried without them, and a failed CPU build leaves
        the pure-PyTorch reference; both say so."""

        def build_extension(self, ext):
            try:
                return super().build_extension(ext)
            except Exception as error:  # compiler missing or failing
                if ext is not cuda_extension:
                    _say(f'WARNING: building {ext.name} failed ({error}); '
                         'sapa_mm will use its pure-PyTorch reference, which '
                         'is slow and needs O(C*K^2*H*W) memory. Fix the '
                         'compiler and reinstall for the kernels.', loud=True)
                    return None
                _say(f'WARNING: the CUDA kernels failed to compile '
                     f'({error}).',
                     'Building the CPU kernels alone: CUDA tensors will run '
                     'on the pure-PyTorch reference (slow, O(C*K^2*H*W) '
                     'memory). See the README, section "Install on a GPU '
                     'machine".', loud=True)
                return self.build_extension(cpu_extension())

    return [cuda_extension], {'build_ext': KernelsBuild}


# Metadata is in pyproject.toml; setup.py builds the extension.
ext_modules, cmdclass = _extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
