"""Speed and memory of the upsamplers, op level and model level.

    python tools/benchmark.py [--device cpu|cuda] [--dtype float32]
        [--threads 2] [--shapes segformer odd] [--repeats 10]
        [--model-level] [--onnx] [--out-dir work_dirs/benchmark]

Op level (batch 2, C=256, K=5) on the shapes the models use: each row upsamples
x (B, C, h, w) to the guide's (H, W): nearest, bilinear, CARAFE (mmcv on CUDA,
sapa-mm's reassembly elsewhere; needs mmcv), SAPA-B on the pure-PyTorch
reference, SAPA-I/B/G on the compiled kernels, on CUDA SAPA-B on the simple
CUDA kernels (sapa-b-simple, SAPA_MM_CUDA_KERNELS=simple) beside the fast ones,
and IndexNet and A2U on request (--rows ... indexnet a2u). Forward (no grad)
and forward+backward times are medians over repeats after warm-up, the rows
taking turns. Peak memory is the growth of the bytes held by tensors during a
forward+backward after one warm-up call: CUDA's max_memory_allocated, or on CPU
the same count from the allocation events of c10's CPU allocator. On CPU the
peak RSS growth of the same call in a fresh process (sampled), which adds what
the C allocator keeps from the OS, is reported too. Ratios are to bilinear,
measured in the same run. Model level: one SegFormer-B1 training iteration per
upsampler (CPU: batch 1 at 256x256; CUDA: batch 8 at 512x512).

``--onnx`` (needs ``requirements/deploy.txt``), instead of the op level:
each row's upsampler exported to ONNX (``sapa_mm.deploy.export_onnx``,
batch 2 at each shape) and run by ONNX Runtime's CPU provider with
--threads threads: the forward's median time, the rows taking turns, and
the peak RSS growth of the first run of a session created in a fresh
process (the arena ONNX Runtime allocates for the graph's intermediates),
each also as a ratio to bilinear's exported graph in the same run.

On Linux, c10's CPU allocator maps every large tensor afresh, so writing a
new 32 MiB output first costs about 8000 page faults. PyTorch's
``THP_MEM_ALLOC_ENABLE=1`` puts large CPU tensors on transparent huge pages
instead, for every row alike; the results say
whether it was set.

Writes a markdown table, JSON and a bar chart to --out-dir.
"""
import argparse
import contextlib
import gc
import json
import multiprocessing
import os
import os.path as osp
import platform
import resource
import statistics
import threading
import time
from importlib.util import find_spec

import torch

import sapa_mm
from sapa_mm.models import SAPA, build_guided_upsampler
from sapa_mm.tables import TABLES

#: The upsampling step of each table's model, named by the model, and the
#: odd size of mmseg's whole-image test mode: name -> ((h, w), (H, W)).
SHAPES = {
    table.name.rsplit('-', 1)[0]: table.upsampling_shape
    for table in TABLES.values()
}
SHAPES['odd'] = ((86, 64), (171, 128))
#: The tables' upsamplers (row key -> upsample_cfg), the same in every table.
UPSAMPLERS = {row.key: row.upsampler
              for table in TABLES.values() for row in table.rows}
EXTRA_ROWS = ['indexnet', 'a2u']  # not run by default (slow on CPU)
#: SAPA-B on the pure-PyTorch reference, and on the simple CUDA kernels.
ROWS = [key for key in UPSAMPLERS if key not in EXTRA_ROWS] + [
    'sapa-reference', 'sapa-b-simple']
BATCH, CHANNELS, KERNEL = 2, 256, 5


def build_row(row: str):
    """A callable (x, guide) -> output for one row."""
    if row == 'sapa-reference':
        return SAPA(CHANNELS, variant='B', backend='reference')
    if row == 'sapa-b-simple':  # run under ROW_ENVIRONMENT
        row = 'sapa-b'
    cfg = dict(UPSAMPLERS[row])
    if cfg['type'].startswith('SAPA'):
        cfg['backend'] = 'extension'
    return build_guided_upsampler(cfg, CHANNELS, CHANNELS)


# Environment variables set while a row runs (the ops read them per call).
ROW_ENVIRONMENT = {'sapa-b-simple': {'SAPA_MM_CUDA_KERNELS': 'simple'}}


@contextlib.contextmanager
def row_environment(row: str):
    changes = ROW_ENVIRONMENT.get(row, {})
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value


def in_row_environment(row: str, fn):
    """fn, run with the row's environment."""

    def run():
        with row_environment(row):
            return fn()

    return run


def default_row(row: str, device: str) -> bool:
    """Whether a row applies by default: the simple kernels are CUDA's, and
    CARAFE needs mmcv (a GPU machine may have none: gpu-check)."""
    if row == 'sapa-b-simple':
        return device == 'cuda'
    if row == 'carafe' and find_spec('mmcv') is None:
        print('benchmark: mmcv is not installed, no carafe row', flush=True)
        return False
    return True


def make_inputs(shape: str, device: str, dtype: torch.dtype):
    (h, w), (H, W) = SHAPES[shape]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, CHANNELS, h, w, generator=g).to(device, dtype)
    guide = torch.randn(BATCH, CHANNELS, H, W, generator=g).to(device, dtype)
    grad = torch.randn(BATCH, CHANNELS, H, W, generator=g).to(device, dtype)
    return x.requires_grad_(), guide.requires_grad_(), grad


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def time_ms(fns, device: str, warmup: int, repeats: int):
    """Median milliseconds of each callable in fns. The repeats take turns
    (one call of each per round), so drift in the machine's speed, large on
    shared machines, moves all of them alike and the ratios stay fair."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    _sync(device)
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, fn_times in zip(fns, times):
            start = time.perf_counter()
            fn()
            _sync(device)
            fn_times.append((time.perf_counter() - start) * 1e3)
    return [statistics.median(t) for t in times]


def forward_backward(module, x, guide, grad):
    x.grad = guide.grad = None
    if isinstance(module, torch.nn.Module):
        module.zero_grad(set_to_none=True)
    module(x, guide).backward(grad)


def _rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _rss_peak_worker(row, shape, dtype, threads, queue):
    """Peak RSS growth of one forward+backward after one warm-up call,
    sampled every 0.2 ms by a thread (large tensors are mmap-ed, so RSS
    follows them)."""
    torch.set_num_threads(threads)
    module = build_row(row)
    if isinstance(module, torch.nn.Module):
        module.to(dtype)
    x, guide, grad = make_inputs(shape, 'cpu', dtype)
    forward_backward(module, x, guide, grad)
    x.grad = guide.grad = None
    queue.put(_peak_rss_growth(
        lambda: forward_backward(module, x, guide, grad)))


def _peak_rss_growth(run) -> int:
    """Peak RSS growth (bytes) while ``run()`` runs, sampled every 0.2 ms
    by a thread."""
    gc.collect()
    before = _rss()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.0002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    run()
    done.set()
    sampler.join()
    return max(peak[0], _rss()) - before


def rss_growth(row, shape, dtype, threads) -> int:
    """Bytes of peak RSS growth of a CPU forward+backward after one warm-up
    call, in a fresh process: what the tensors need plus what the C
    allocator keeps from the OS."""
    context = multiprocessing.get_context('spawn')
    queue = context.Queue()
    process = context.Process(target=_rss_peak_worker,
                              args=(row, shape, dtype, threads, queue))
    process.start()
    growth = queue.get()
    process.join()
    return growth


def _cpu_tensor_peak(fn) -> int:
    """Peak growth of the bytes held by tensors while fn() runs, from the
    allocation events of c10's CPU allocator (the profiler's memory
    events): the CPU counterpart of CUDA's max_memory_allocated."""
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU],
            profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events()
                     if e.name() == '[memory]' and e.device_type() ==
                     torch.autograd.DeviceType.CPU),
                    key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def tensor_peak(module, x, guide, grad, device: str) -> int:
    """Bytes of peak tensor memory growth of a forward+backward after one
    warm-up call."""
    forward_backward(module, x, guide, grad)
    x.grad = guide.grad = None
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        forward_backward(module, x, guide, grad)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _cpu_tensor_peak(
            lambda: forward_backward(module, x, guide, grad))
    x.grad = guide.grad = None
    return peak


def op_level(args, dtype):
    results = []
    for shape in args.shapes:
        x, guide, grad = make_inputs(shape, args.device, dtype)
        modules = {}
        for row in args.rows:
            module = build_row(row)
            if isinstance(module, torch.nn.Module):
                module.to(args.device, dtype)
            modules[row] = module
        # The reference takes seconds per call: timed on its own, 3 repeats.
        groups = [[r for r in args.rows if r != 'sapa-reference'],
                  [r for r in args.rows if r == 'sapa-reference']]
        timed = {}
        for rows in filter(None, groups):
            repeats = args.repeats if 'sapa-reference' not in rows else \
                min(args.repeats, 3)
            with torch.no_grad():
                forward = time_ms(
                    [in_row_environment(r, lambda m=modules[r]: m(x, guide))
                     for r in rows], args.device, args.warmup, repeats)
            both = time_ms(
                [in_row_environment(r, lambda m=modules[r]: forward_backward(
                    m, x, guide, grad)) for r in rows], args.device,
                args.warmup, repeats)
            timed.update(zip(rows, zip(forward, both)))
        for row in args.rows:
            forward, both = timed[row]
            with row_environment(row):
                memory = tensor_peak(modules[row], x, guide, grad,
                                     args.device)
            r = dict(shape=shape, row=row, forward_ms=forward,
                     forward_backward_ms=both, peak_memory_mb=memory / 2**20)
            line = (f'  {shape:12s} {row:15s} forward {forward:9.2f} ms  '
                    f'fwd+bwd {both:9.2f} ms  peak {memory / 2**20:8.1f} MiB')
            if args.device == 'cpu':
                rss = rss_growth(row, shape, dtype, args.threads)
                r['rss_memory_mb'] = rss / 2**20
                line += f' (RSS {rss / 2**20:.1f})'
            results.append(r)
            print(line, flush=True)
    for r in results:
        base = next(b for b in results
                    if b['shape'] == r['shape'] and b['row'] == 'bilinear')
        for key in ('forward_ms', 'forward_backward_ms', 'peak_memory_mb',
                    'rss_memory_mb'):
            if key in r:
                r[key.rsplit('_', 1)[0] + '_ratio'] = r[key] / max(
                    base[key], 1e-9)
    return results


def model_level(args, dtype):
    from mmengine.optim import OptimWrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from sapa_mm.analysis.complexity import build_model
    from sapa_mm.engine.runner import load_config
    batch, size = (1, 256) if args.device == 'cpu' else (8, 512)
    rows = ('bilinear', 'carafe', 'sapa-i', 'sapa-b', 'sapa-g')
    g = torch.Generator().manual_seed(0)
    data = dict(
        inputs=[torch.randint(0, 256, (3, size, size), generator=g,
                              dtype=torch.uint8) for _ in range(batch)],
        data_samples=[SegDataSample(
            gt_sem_seg=PixelData(data=torch.randint(
                0, 150, (1, size, size), generator=g)),
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
            for _ in range(batch)])
    steps = []
    for row in rows:
        cfg = load_config(
            TABLES['segformer-ade20k'].config_path(row),
            mini=dict(max_iters=1, val_interval=1, crop_size=(size, size)))
        model = build_model(cfg).to(args.device).train()
        optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-5))
        steps.append(lambda m=model, o=optim: m.train_step(data, o))
    results = []
    for row, ms in zip(rows, time_ms(steps, args.device, args.warmup,
                                     args.repeats)):
        results.append(dict(row=row, batch=batch, size=size, iteration_ms=ms))
        print(f'  segformer-b1 {row:10s} iteration {ms:9.1f} ms', flush=True)
    for r in results:
        r['iteration_ratio'] = r['iteration_ms'] / results[0]['iteration_ms']
    return results


#: Rows without an exported graph of their own: the reference backend and
#: the simple CUDA kernels export to the same graph as sapa-b.
ONNX_SKIP = ('sapa-reference', 'sapa-b-simple')


def onnx_model(row: str, shape: str) -> bytes:
    """The serialised ONNX graph of the row's upsampler at the shape."""
    from sapa_mm.deploy import export_onnx
    module = build_guided_upsampler(dict(UPSAMPLERS[row]), CHANNELS,
                                    CHANNELS).eval()
    x, guide, _ = make_inputs(shape, 'cpu', torch.float32)
    with torch.no_grad():
        program = export_onnx(module, (x.detach(), guide.detach()),
                              verbose=False)
    return program.model_proto.SerializeToString()


def ort_session(model: bytes, threads: int):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options,
                                providers=['CPUExecutionProvider'])


def ort_feeds(session, shape: str):
    x, guide, _ = make_inputs(shape, 'cpu', torch.float32)
    names = [i.name for i in session.get_inputs()]
    return dict(zip(names, (x.detach().numpy(), guide.detach().numpy())))


def _ort_rss_worker(model, shape, threads, queue):
    """Peak RSS growth of a new session's first run, sampled as in
    :func:`_rss_peak_worker`."""
    session = ort_session(model, threads)
    feeds = ort_feeds(session, shape)
    queue.put(_peak_rss_growth(lambda: session.run(None, feeds)))


def ort_rss_growth(model: bytes, shape: str, threads: int) -> int:
    context = multiprocessing.get_context('spawn')
    queue = context.Queue()
    process = context.Process(target=_ort_rss_worker,
                              args=(model, shape, threads, queue))
    process.start()
    growth = queue.get()
    process.join()
    return growth


def onnx_level(args):
    rows = [r for r in args.rows if r not in ONNX_SKIP]
    results = []
    for shape in args.shapes:
        models = {row: onnx_model(row, shape) for row in rows}
        sessions = {row: ort_session(models[row], args.threads)
                    for row in rows}
        feeds = ort_feeds(sessions[rows[0]], shape)
        times = time_ms([lambda s=sessions[r]: s.run(None, feeds)
                         for r in rows], 'cpu', args.warmup, args.repeats)
        for row, forward in zip(rows, times):
            rss = ort_rss_growth(models[row], shape, args.threads)
            results.append(dict(shape=shape, row=row, ort_forward_ms=forward,
                                ort_rss_memory_mb=rss / 2**20))
            print(f'  {shape:12s} {row:15s} ONNX Runtime {forward:9.2f} ms  '
                  f'peak RSS growth {rss / 2**20:8.1f} MiB', flush=True)
    for r in results:
        base = next(b for b in results
                    if b['shape'] == r['shape'] and b['row'] == 'bilinear')
        for key in ('ort_forward_ms', 'ort_rss_memory_mb'):
            r[key.rsplit('_', 1)[0] + '_ratio'] = r[key] / max(base[key],
                                                               1e-9)
    return results


def onnx_markdown(rows) -> str:
    if not rows:
        return ''
    lines = ['', '| shape | row | ONNX Runtime forward (ms) | x bilinear | '
             'peak RSS growth (MiB) | x bilinear |', '| --- ' * 6 + '|']
    for r in rows:
        (h, w), (H, W) = SHAPES[r['shape']]
        lines.append(
            f'| {r["shape"]} {h}x{w}->{H}x{W} | {r["row"]} | '
            f'{r["ort_forward_ms"]:.2f} | {r["ort_forward_ratio"]:.2f} | '
            f'{r["ort_rss_memory_mb"]:.1f} | '
            f'{r["ort_rss_memory_ratio"]:.2f} |')
    return '\n'.join(lines) + '\n'


def markdown(env, ops, models) -> str:
    huge_pages = (', CPU tensors on huge pages (THP_MEM_ALLOC_ENABLE=1)'
                  if env['huge_pages'] else '')
    lines = [f'Device: {env["device"]}, dtype {env["dtype"]}, threads '
             f'{env["threads"]}, torch {env["torch"]}, sapa-mm '
             f'{env["sapa_mm"]} (extension: {env["has_ext"]}){huge_pages}, '
             f'{env["date"]}.', '']
    if not ops:
        return '\n'.join(lines[:1]) + '\n'
    rss = all('rss_memory_mb' in r for r in ops)
    header = ['shape', 'row', 'forward (ms)', 'x bilinear', 'fwd+bwd (ms)',
              'x bilinear', 'peak memory (MiB)', 'x bilinear']
    if rss:
        header += ['peak RSS growth (MiB)', 'x bilinear']
    lines += ['| ' + ' | '.join(header) + ' |', '| --- ' * len(header) + '|']
    for r in ops:
        (h, w), (H, W) = SHAPES[r['shape']]
        cells = [f'{r["shape"]} {h}x{w}->{H}x{W}', r['row'],
                 f'{r["forward_ms"]:.2f}', f'{r["forward_ratio"]:.2f}',
                 f'{r["forward_backward_ms"]:.2f}',
                 f'{r["forward_backward_ratio"]:.2f}',
                 f'{r["peak_memory_mb"]:.1f}',
                 f'{r["peak_memory_ratio"]:.2f}']
        if rss:
            cells += [f'{r["rss_memory_mb"]:.1f}',
                      f'{r["rss_memory_ratio"]:.2f}']
        lines.append('| ' + ' | '.join(cells) + ' |')
    if models:
        lines += ['', '| SegFormer-B1 training iteration | batch x size | ms '
                  '| x bilinear |', '| --- | --- | --- | --- |']
        for r in models:
            lines.append(f'| {r["row"]} | {r["batch"]} x {r["size"]}^2 | '
                         f'{r["iteration_ms"]:.1f} | '
                         f'{r["iteration_ratio"]:.2f} |')
    return '\n'.join(lines) + '\n'


def bar_chart(ops, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    shapes = list(dict.fromkeys(r['shape'] for r in ops))
    rows = list(dict.fromkeys(r['row'] for r in ops))
    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 3.5))
    width = 0.8 / len(shapes)
    for i, shape in enumerate(shapes):
        values = [next(r['forward_backward_ratio'] for r in ops
                       if r['shape'] == shape and r['row'] == row)
                  for row in rows]
        ax.bar([j + i * width for j in range(len(rows))], values, width,
               label=shape)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))], rows)
    ax.set_yscale('log')
    ax.set_ylabel('fwd+bwd time / bilinear')
    ax.axhline(1, color='gray', lw=0.5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--dtype', default='float32',
                        choices=['float32', 'float16', 'bfloat16'])
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--shapes', nargs='+', default=list(SHAPES),
                        choices=list(SHAPES))
    parser.add_argument(
        '--rows', nargs='+', choices=ROWS + EXTRA_ROWS,
        help='default: all of ROWS that apply (sapa-b-simple on CUDA, carafe '
        'where mmcv is installed)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--model-level', action='store_true')
    parser.add_argument('--onnx', action='store_true',
                        help='time the exported ONNX graphs in ONNX Runtime '
                        '(CPU) instead of the op level')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args()
    if args.rows is None:
        args.rows = [r for r in ROWS if default_row(r, args.device)]
    if 'bilinear' not in args.rows:
        args.rows = ['bilinear'] + args.rows  # the ratios' reference
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    device_name = (torch.cuda.get_device_name() if args.device == 'cuda' else
                   f'CPU {platform.processor() or platform.machine()}, '
                   f'{os.cpu_count()} cores')
    env = dict(device=device_name, dtype=args.dtype, threads=args.threads,
               torch=torch.__version__, sapa_mm=sapa_mm.__version__,
               has_ext=sapa_mm.HAS_EXT, date=time.strftime('%Y-%m-%d'),
               huge_pages=args.device == 'cpu' and os.environ.get(
                   'THP_MEM_ALLOC_ENABLE', '').lower() in ('1', 'true'))
    print(f'benchmark: {env}', flush=True)
    ops, onnx_rows = [], []
    if args.onnx:
        print('ONNX Runtime (CPU, float32, batch 2, C=256):', flush=True)
        onnx_rows = onnx_level(args)
    else:
        print('op level (batch 2, C=256, K=5):', flush=True)
        ops = op_level(args, dtype)
    models = []
    if args.model_level:
        print('model level:', flush=True)
        models = model_level(args, dtype)
    os.makedirs(args.out_dir, exist_ok=True)
    text = markdown(env, ops, models) + onnx_markdown(onnx_rows)
    with open(osp.join(args.out_dir, 'benchmark.md'), 'w') as f:
        f.write(text)
    with open(osp.join(args.out_dir, 'benchmark.json'), 'w') as f:
        json.dump(dict(env=env, op_level=ops, model_level=models,
                       onnx=onnx_rows), f, indent=2)
    if ops:
        bar_chart(ops, osp.join(args.out_dir, 'benchmark.png'))
    print(text)


if __name__ == '__main__':
    main()
