"""Runner set-up shared by tools/train.py, tools/test.py and
tools/reproduce.py: config loading with overrides, mixed precision, resume,
distributed runs on CPU (gloo), the tools' hooks, and a clean end of
distributed runs."""
import argparse
import gc
import os
import os.path as osp
from inspect import signature
from typing import Callable, Optional, TypeVar

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

from . import checkpoint  # noqa: F401  (allow-lists mmengine checkpoints)
from .cpu_threads import SharedCPUThreadsHook, threads_fixed_by_environment
from .mini_schedule import apply_mini_schedule
from .progress import REPORT_ENV, ProgressReportHook

T = TypeVar('T')


def _replace_sync_bn(node):
    """SyncBN needs CUDA: plain BN (per-process statistics) on CPU."""
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for value in node.values():
            _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _replace_sync_bn(value)


def _per_process_buffers() -> dict:
    """DDP's option that keeps each process's buffers (BN statistics, as
    SyncBN's replacement computes them) out of the per-forward broadcast:
    torch 2.13 renamed ``broadcast_buffers`` to ``forward_sync_buffers``."""
    parameters = signature(DistributedDataParallel.__init__).parameters
    if 'forward_sync_buffers' in parameters:
        return dict(forward_sync_buffers=False)
    return dict(broadcast_buffers=False)


def set_data_root(cfg: Config, data_root: str) -> None:
    """Points every dataloader (and COCO-style evaluator) at ``data_root``."""
    old_root = cfg.get('data_root')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg.get(key, {}).get('dataset')
        while dataset is not None:  # through RepeatDataset & co.
            if 'data_root' in dataset:
                dataset.data_root = data_root
            dataset = dataset.get('dataset')
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key)
        for evaluator in (evaluators if isinstance(evaluators, list) else
                          [evaluators]):
            ann_file = evaluator.get('ann_file') if evaluator else None
            if ann_file and old_root and ann_file.startswith(old_root):
                evaluator.ann_file = osp.join(data_root,
                                              ann_file[len(old_root):])
    cfg.data_root = data_root


def load_config(config: str,
                work_dir: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none',
                amp: bool = False,
                resume: Optional[str] = None,
                load_from: Optional[str] = None,
                data_root: Optional[str] = None,
                mini: Optional[dict] = None) -> Config:
    """The config as the OpenMMLab tools prepare it.

    Args:
        config: config file; its ``custom_imports`` are imported.
        work_dir: defaults to ``./work_dirs/<config name>``.
        cfg_options: overrides, as parsed by ``mmengine.config.DictAction``.
        launcher: 'none', 'pytorch', 'slurm' or 'mpi'.
        amp: switch the optimizer wrapper to ``AmpOptimWrapper``.
        resume: a checkpoint to resume from, or 'auto' for the latest one of
            the work dir.
        load_from: a checkpoint to load (e.g. to test).
        data_root: point the datasets here (see :func:`set_data_root`).
        mini: a short CPU schedule: keyword arguments of
            :func:`sapa_mm.engine.mini_schedule.apply_mini_schedule`.
    """
    cfg = Config.fromfile(config)
    if mini is not None:
        apply_mini_schedule(cfg, **mini)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(config))[0])
    if amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume is not None:
        cfg.resume = True
        cfg.load_from = None if resume == 'auto' else resume
    if load_from is not None:
        cfg.load_from = load_from
    if data_root is not None:
        set_data_root(cfg, data_root)
    if launcher != 'none' and not torch.cuda.is_available():
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        # DDP over CPU modules takes no device_ids.
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
            **_per_process_buffers())
        _replace_sync_bn(cfg.model)
    return cfg


def build_runner(config: str, **kwargs) -> Runner:
    """A Runner for ``config``; ``kwargs`` as in :func:`load_config`.

    Two hooks join the config's: on CPU, unless ``OMP_NUM_THREADS`` fixes
    the thread count, :class:`~sapa_mm.engine.cpu_threads.
    SharedCPUThreadsHook`; under ``tools/reproduce.py``,
    :class:`~sapa_mm.engine.progress.ProgressReportHook`. They are
    registered on the runner, not written into the config it saves.
    """
    cfg = load_config(config, **kwargs)
    if cfg.launcher == 'pytorch' and not torch.cuda.is_available() and \
            not dist.is_initialized():
        # mmengine's init_dist calls torch.cuda.set_device: start gloo here
        # from torchrun's environment instead.
        dist.init_process_group('gloo')
        os.environ.setdefault('LOCAL_RANK', str(dist.get_rank()))
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    if not torch.cuda.is_available() and \
            threads_fixed_by_environment() is None and \
            SharedCPUThreadsHook.available():
        runner.register_hook(SharedCPUThreadsHook())
    if os.environ.get(REPORT_ENV):
        runner.register_hook(ProgressReportHook())
    return runner


def run(config: str, action: Callable[[Runner], T], **kwargs) -> T:
    """Builds the runner for ``config`` (``kwargs`` as in
    :func:`load_config`), returns ``action(runner)``, and ends a distributed
    run: the runner is released, then the process group destroyed.

    The order matters. The runner's DistributedDataParallel wrapper holds
    the gloo process group, and reference cycles (the loops hold the runner)
    keep the runner alive until a garbage collection, often the one at
    interpreter exit. ``destroy_process_group`` with the runner alive only
    unregisters the group: measured at exit, each process still ran gloo's
    three threads beside the main one, to be torn down with the interpreter,
    where a finished run could abort ("terminate called without an active
    exception"). Released and collected first, the group is destroyed at
    once and only the main thread is left at exit.
    """
    runner = build_runner(config, **kwargs)
    try:
        result = action(runner)
    finally:
        del runner
        gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return result


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """The options tools/train.py and tools/test.py share."""
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--data-root', help="override the datasets' "
                        'data_root (e.g. a generated mini dataset)')
    parser.add_argument(
        '--mini', type=int, metavar='ITERS',
        help='a short CPU schedule of ITERS iterations with small crops and '
        'no pretrained weights, for the generated mini datasets')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, KEY=VALUE')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def runner_arguments(args: argparse.Namespace) -> dict:
    """:func:`load_config` keyword arguments from those options."""
    mini = None if args.mini is None else dict(
        max_iters=args.mini, val_interval=max(1, args.mini // 2))
    return dict(work_dir=args.work_dir, data_root=args.data_root, mini=mini,
                cfg_options=args.cfg_options, launcher=args.launcher)
