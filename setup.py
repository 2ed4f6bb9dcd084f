"""Build and install sapa-mm.

The compiled kernels live in one extension, ``sapa_mm._ext``, built from
``ops/``: a ``CppExtension`` (OpenMP) when torch sees no CUDA, a
``CUDAExtension`` with the CUDA kernels when it does or ``FORCE_CUDA=1``.
The extension is optional: when it cannot be compiled (no compiler, or
``SAPA_MM_WITH_OPS=0``), sapa_mm falls back to its pure-PyTorch reference.

Environment variables:
    SAPA_MM_WITH_OPS=0        do not build the extension.
    FORCE_CUDA=1              build the CUDA kernels without a visible GPU.
    TORCH_CUDA_ARCH_LIST      CUDA architectures, e.g. "8.0;9.0" (torch's).
    SAPA_MM_NVCC_FLAGS        extra nvcc flags, space separated.
    MAX_JOBS                  parallel compile jobs (default: CPU count).
"""
import glob
import os

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _extensions():
    if os.getenv('SAPA_MM_WITH_OPS', '1') == '0':
        print('sapa_mm: SAPA_MM_WITH_OPS=0, skipping the compiled kernels')
        return [], {}
    try:
        import torch
    except ImportError:
        # Under pip's build isolation torch is not importable: install with
        # --no-build-isolation to get the kernels.
        print('sapa_mm: torch is not importable at build time, skipping the '
              'compiled kernels (use pip install --no-build-isolation)')
        return [], {}
    from torch.utils.cpp_extension import (CUDA_HOME, BuildExtension,
                                           CppExtension, CUDAExtension)

    class OptionalBuildExtension(BuildExtension):
        """Leaves the pure-PyTorch path, with a message, where an optional
        extension fails to compile (torch raises RuntimeError, which
        setuptools' own ``optional`` handling does not catch)."""

        def build_extension(self, ext):
            try:
                super().build_extension(ext)
            except Exception as error:  # compiler missing or failing
                if not ext.optional:
                    raise
                print(f'sapa_mm: WARNING: building {ext.name} failed '
                      f'({error}); sapa_mm will use its pure-PyTorch '
                      'reference. Fix the compiler and reinstall for the '
                      'kernels.')

    os.environ.setdefault('MAX_JOBS', str(os.cpu_count() or 1))
    sources = ['ops/sapa.cpp'] + glob.glob('ops/cpu/*.cpp')
    cxx_flags = ['-O3', '-fopenmp']
    kwargs = dict(
        include_dirs=[os.path.join(ROOT, 'ops', 'include')],
        extra_link_args=['-fopenmp'],
        # A failed compile leaves the pure-PyTorch path instead of no install.
        optional=os.getenv('FORCE_CUDA', '0') != '1',
    )
    with_cuda = (torch.cuda.is_available() and CUDA_HOME is not None) or \
        os.getenv('FORCE_CUDA', '0') == '1'
    if with_cuda:
        print('sapa_mm: compiling the CPU and CUDA kernels')
        sources += glob.glob('ops/cuda/*.cu') + glob.glob('ops/cuda/*.cpp')
        nvcc_flags = ['-O3', '--expt-relaxed-constexpr']
        nvcc_flags += os.getenv('SAPA_MM_NVCC_FLAGS', '').split()
        ext = CUDAExtension(
            'sapa_mm._ext',
            sources,
            define_macros=[('WITH_CUDA', None)],
            extra_compile_args={'cxx': cxx_flags, 'nvcc': nvcc_flags},
            **kwargs)
    else:
        print('sapa_mm: compiling only the CPU kernels')
        ext = CppExtension(
            'sapa_mm._ext',
            sources,
            extra_compile_args={'cxx': cxx_flags},
            **kwargs)
    return [ext], {'build_ext': OptionalBuildExtension}


ext_modules, cmdclass = _extensions()

setup(
    name='sapa-mm',
    version='0.1.0',
    description='SAPA (Similarity-Aware Point Affiliation) upsamplers as an '
    'OpenMMLab 2.x plugin, with CPU and CUDA kernels',
    long_description=open(os.path.join(ROOT, 'README.md')).read()
    if os.path.exists(os.path.join(ROOT, 'README.md')) else '',
    long_description_content_type='text/markdown',
    python_requires='>=3.8',
    packages=find_packages(include=['sapa_mm', 'sapa_mm.*']),
    install_requires=['torch>=2.1'],
    extras_require={
        'mm': ['mmengine>=0.10', 'mmcv>=2.0,<2.2', 'mmsegmentation>=1.2',
               'mmdet>=3.3'],
        'tests': ['pytest'],
    },
    ext_modules=ext_modules,
    cmdclass=cmdclass,
    zip_safe=False,
)
