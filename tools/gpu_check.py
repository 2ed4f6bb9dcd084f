"""The CUDA path proved on a GPU, in one command (`make gpu-check`).

    python tools/gpu_check.py [--out-dir work_dirs/gpu_check] [--skip-build]
        [--skip-benchmark]

On a machine with a CUDA GPU, torch and nvcc (mmcv is not needed; the SAPA
module checks need mmengine, which `make gpu-check-wheels` fetches as wheels
for a machine without network), in order:

1. the environment: GPU, driver, torch, CUDA, nvcc;
2. the extension built for the GPU present (``FORCE_CUDA=1 setup.py
   build_ext --inplace``, TORCH_CUDA_ARCH_LIST unset: the visible GPUs'),
   and a check that its CUDA kernels load;
3. the CUDA tests: the CUDA rows of the device-parametrized op tests
   (kernels against the reference, every dtype, layout and K) and
   tests/ops/test_cuda.py (against the CPU emulation of the same code, both
   kernel sets, bitwise repeatability, another stream, torch.compile, CUDA
   graph capture, the SAPA modules against the CPU, autocast);
4. compute-sanitizer's memcheck, racecheck and synccheck on a small case
   (both kernel sets, float32 and float16, both layouts, K = 5 and 7);
5. the benchmark in float32, float16 and bfloat16 (tools/benchmark.py).

Every step runs even if one before it failed (except what needs the build);
the report, gpu_check.md in --out-dir (with each step's log beside it),
says what passed, what failed and how long each took. Exits 1 if any step
failed.
"""
import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SANITIZER_TOOLS = ('memcheck', 'racecheck', 'synccheck')
DTYPES = ('float32', 'float16', 'bfloat16')


def sanitizer_case() -> None:
    """A small workload every CUDA kernel of sapa_mm runs in (for
    compute-sanitizer): forward and backward of both ops and of a SAPA-B
    style module path, both kernel sets, two dtypes, both layouts."""
    import torch

    from sapa_mm.ops import (
        channel_norm,
        channel_norm_linear,
        nearest_upsample,
        sapa,
    )
    torch.manual_seed(0)
    for kernels in ('fast', 'simple'):
        os.environ['SAPA_MM_CUDA_KERNELS'] = kernels
        for dtype in (torch.float32, torch.float16):
            for layout in (torch.contiguous_format, torch.channels_last):
                for K in (5, 7):
                    q = torch.randn(2, 24, 19, 14, device='cuda',
                                    dtype=dtype)
                    k = torch.randn(2, 24, 10, 7, device='cuda', dtype=dtype)
                    v = torch.randn(2, 40, 10, 7, device='cuda', dtype=dtype)
                    q, k, v = (t.contiguous(memory_format=layout)
                               .requires_grad_() for t in (q, k, v))
                    sapa(q, k, v, K).sum().backward()
            x = torch.randn(2, 40, 19, 14, device='cuda', dtype=dtype,
                            requires_grad=True)
            w = torch.randn(8, 40, device='cuda', dtype=dtype)
            out = channel_norm_linear(x, w) if dtype == torch.float32 else \
                channel_norm(x)
            out.sum().backward()
            nearest_upsample(x, (29, 21)).sum().backward()
    torch.cuda.synchronize()
    print('sanitizer case: done')


class Report:
    """Runs the steps, keeps their logs, writes the markdown report."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.rows = []
        self.sections = []
        os.makedirs(out_dir, exist_ok=True)

    def run(self, name: str, cmd, env=None, timeout=600) -> bool:
        log = osp.join(self.out_dir, name.replace(' ', '_') + '.log')
        print(f'== {name}: {" ".join(cmd)}', flush=True)
        start = time.time()
        try:
            with open(log, 'w') as f:
                proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f,
                                      stderr=subprocess.STDOUT,
                                      timeout=timeout)
            ok = proc.returncode == 0
            status = 'passed' if ok else f'FAILED (exit {proc.returncode})'
        except subprocess.TimeoutExpired:
            ok, status = False, f'FAILED (timeout {timeout} s)'
        except OSError as error:
            ok, status = False, f'FAILED ({error})'
        seconds = time.time() - start
        with open(log) as f:
            tail = f.read().splitlines()[-25:]
        print('\n'.join(tail[-8:]), flush=True)
        print(f'== {name}: {status} in {seconds:.0f} s', flush=True)
        self.rows.append((name, status, seconds))
        self.sections.append((name, ' '.join(cmd), tail))
        return ok

    def skip(self, name: str, why: str) -> None:
        print(f'== {name}: skipped ({why})', flush=True)
        self.rows.append((name, f'skipped: {why}', 0.0))

    def add(self, title: str, text: str) -> None:
        self.sections.append((title, None, text.splitlines()))

    def write(self, header: str) -> str:
        lines = ['# sapa-mm GPU check', '', header, '',
                 '| step | result | seconds |', '| --- | --- | --- |']
        lines += [f'| {n} | {s} | {t:.0f} |' for n, s, t in self.rows]
        for title, cmd, tail in self.sections:
            lines += ['', f'## {title}', '']
            if cmd:
                lines += [f'`{cmd}`', '', '```']
                lines += tail + ['```']
            else:
                lines += tail
        path = osp.join(self.out_dir, 'gpu_check.md')
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path


def environment() -> str:
    import torch
    lines = [f'- python {sys.version.split()[0]}, torch {torch.__version__} '
             f'(CUDA {torch.version.cuda})']
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            lines.append(f'- GPU {i}: {p.name}, sm_{p.major}{p.minor}, '
                         f'{p.total_memory / 2**30:.0f} GiB, '
                         f'{p.multi_processor_count} SMs')
    for tool in ('nvidia-smi', 'nvcc', 'compute-sanitizer'):
        path = shutil.which(tool)
        if path is None:
            lines.append(f'- {tool}: not found')
            continue
        flag = ['--query-gpu=driver_version', '--format=csv,noheader'] \
            if tool == 'nvidia-smi' else ['--version']
        out = subprocess.run([path] + flag, capture_output=True,
                             text=True).stdout.strip().splitlines()
        lines.append(f'- {tool}: {out[-1] if out else "?"}')
    lines.append(f'- {os.cpu_count()} CPU cores, '
                 f'{time.strftime("%Y-%m-%d %H:%M")}')
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='work_dirs/gpu_check')
    parser.add_argument('--skip-build', action='store_true',
                        help='use the extension already built in place')
    parser.add_argument('--skip-benchmark', action='store_true')
    parser.add_argument('--sanitizer-case', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sanitizer_case:
        sanitizer_case()
        return 0

    import torch
    report = Report(osp.abspath(args.out_dir))
    env_text = environment()
    print(env_text, flush=True)
    if not torch.cuda.is_available():
        print(f'gpu-check: torch sees no CUDA GPU; report: '
              f'{report.write("No CUDA GPU: nothing was checked.")}')
        return 1
    python = sys.executable
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env.pop('SAPA_MM_CUDA_KERNELS', None)
    env.setdefault('MAX_JOBS', str(os.cpu_count() or 1))

    built = True
    if not args.skip_build:
        built = report.run(
            'build', [python, 'setup.py', 'build_ext', '--inplace'],
            env=dict(env, FORCE_CUDA='1'), timeout=1200)
    built = built and report.run(
        'CUDA kernels load', [
            python, '-c', 'import sapa_mm.ops as o; '
            'assert o.EXT_HAS_CUDA, "sapa_mm._ext has no CUDA kernels"; '
            'print("sapa_mm._ext: CUDA kernels loaded")'
        ],
        env=env)
    if not built:
        report.skip('tests, sanitizers, benchmark', 'no CUDA kernels')
    else:
        report.run('tests', [
            python, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs',
            'tests/ops', '-k',
            'test_cuda.py or (cuda and not emulation and not build)'
        ], env=env, timeout=1200)
        sanitizer = shutil.which('compute-sanitizer')
        for tool in SANITIZER_TOOLS:
            if sanitizer is None:
                report.skip(f'compute-sanitizer {tool}', 'not found')
                continue
            # No caching allocator: memcheck then sees each tensor's bounds.
            report.run(f'compute-sanitizer {tool}', [
                sanitizer, '--tool', tool, '--error-exitcode', '1', python,
                'tools/gpu_check.py', '--sanitizer-case'
            ], env=dict(env, PYTORCH_NO_CUDA_MEMORY_CACHING='1'))
        if args.skip_benchmark:
            report.skip('benchmark', '--skip-benchmark')
        for dtype in () if args.skip_benchmark else DTYPES:
            out = osp.join(report.out_dir, f'benchmark_{dtype}')
            if report.run(f'benchmark {dtype}', [
                    python, 'tools/benchmark.py', '--device', 'cuda',
                    '--dtype', dtype, '--repeats', '20', '--out-dir', out
            ], env=env):
                with open(osp.join(out, 'benchmark.md')) as f:
                    report.add(f'Benchmark, {dtype}', f.read())
    path = report.write(env_text)
    failed = [n for n, s, _ in report.rows if s.startswith('FAILED')]
    verdict = 'FAILED: ' + ', '.join(failed) if failed else 'all passed'
    print(f'gpu-check: {verdict}; report: {path}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
