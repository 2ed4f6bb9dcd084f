"""The ``sapa_mm::*`` torch operators: schemas, kernels, fake tensors and
autograd.

The ops take logical (B, C, H, W) tensors in either memory format (see
``ops/include/sapa_ops.h``): the K*K-channel results are channels-last, every
other result takes the memory format of the input it corresponds to. The
compiled extension defines them and registers its CPU/CUDA kernels; where it
is missing (or lacks CUDA) the same ops are backed by the pure-PyTorch
reference, so callers, ``torch.compile`` and FLOP counters always see the same
named ops. Fake (meta) kernels and autograd are registered here for both
cases.
"""
import warnings
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch._prims_common import suggest_memory_format

from . import fallback
from .extension import BUILD_HINT, EXT_HAS_CUDA, HAS_EXT, IMPORT_ERROR

NAMESPACE = 'sapa_mm'

#: Schemas of the ops; the compiled extension defines the same ones in
#: ops/sapa.cpp (a test checks that they agree).
SCHEMAS = {
    'similarity': '(Tensor query, Tensor key, int kernel_size) -> Tensor',
    'similarity_backward': '(Tensor grad, Tensor query, Tensor key, '
    'int kernel_size, bool[2] output_mask) -> (Tensor, Tensor)',
    'similarity_softmax': '(Tensor query, Tensor key, int kernel_size) -> '
    'Tensor',
    'similarity_softmax_backward': '(Tensor grad, Tensor weights, '
    'Tensor query, Tensor key, int kernel_size, bool[2] output_mask) -> '
    '(Tensor, Tensor)',
    'aggregate': '(Tensor weights, Tensor value, int kernel_size) -> Tensor',
    'aggregate_backward': '(Tensor grad, Tensor weights, Tensor value, '
    'int kernel_size, bool[2] output_mask) -> (Tensor, Tensor)',
    'channel_stats': '(Tensor x, float eps) -> (Tensor, Tensor)',
    'channel_stats_linear': '(Tensor x, Tensor weight, float eps) -> '
    '(Tensor, Tensor, Tensor)',
    'channel_norm_backward_': '(Tensor(a!) grad, Tensor x, Tensor mean, '
    'Tensor rstd) -> ()',
    'channel_linear_norm_backward': '(Tensor grad, Tensor weight, Tensor x, '
    'Tensor mean, Tensor rstd) -> Tensor',
}


_warned = set()


def _warn_once(device_type: str) -> None:
    if device_type in _warned:
        return
    _warned.add(device_type)
    reason = ('is not built' if not HAS_EXT else
              'was built without CUDA kernels')
    detail = f' ({IMPORT_ERROR})' if IMPORT_ERROR is not None else ''
    warnings.warn(
        f'sapa_mm: the compiled extension {reason}{detail}; the {device_type} '
        f'SAPA ops run on the pure-PyTorch reference, which is slow and uses '
        f'O(C*K^2*H*W) memory. To get the kernels, {BUILD_HINT}.',
        stacklevel=3)


def _with_warning(kernel, device_type: str):

    def fallback(*args):
        _warn_once(device_type)
        return kernel(*args)

    fallback.__name__ = kernel.__name__
    return fallback


def _register_reference(dispatch_key: str, device_type: str) -> None:
    for name, kernel in fallback.WINDOW_KERNELS.items():
        torch.library.impl(f'{NAMESPACE}::{name}', dispatch_key)(
            _with_warning(kernel, device_type))


if not HAS_EXT:
    for _name, _schema in SCHEMAS.items():
        torch.library.define(f'{NAMESPACE}::{_name}', _schema)
    _register_reference('CPU', 'cpu')
if not EXT_HAS_CUDA:
    _register_reference('CUDA', 'cuda')
# The channel LayerNorm ops have CPU kernels; elsewhere (and without the
# extension) they are composed of torch ops, which are fast enough off the
# CPU.
torch.library.impl(f'{NAMESPACE}::channel_stats',
                   'CompositeExplicitAutograd')(fallback.channel_stats)
torch.library.impl(f'{NAMESPACE}::channel_stats_linear',
                   'CompositeExplicitAutograd')(fallback.channel_stats_linear)
torch.library.impl(f'{NAMESPACE}::channel_norm_backward_',
                   'CompositeExplicitAutograd')(
                       fallback.channel_norm_backward_)
torch.library.impl(f'{NAMESPACE}::channel_linear_norm_backward',
                   'CompositeExplicitAutograd')(
                       fallback.channel_linear_norm_backward)


# Fake kernels: shapes and memory formats only, for torch.compile, meta
# tensors and FLOP tracing.
def _empty(like: Tensor, *size: int, memory_format=None) -> Tensor:
    if memory_format is None:
        memory_format = suggest_memory_format(like)
    return like.new_empty(size).contiguous(memory_format=memory_format)


@torch.library.register_fake(f'{NAMESPACE}::similarity')
def _similarity_fake(query: Tensor, key: Tensor, kernel_size: int) -> Tensor:
    B, _, H, W = query.shape
    return _empty(query, B, kernel_size * kernel_size, H, W,
                  memory_format=torch.channels_last)


torch.library.register_fake(f'{NAMESPACE}::similarity_softmax')(
    _similarity_fake)


@torch.library.register_fake(f'{NAMESPACE}::aggregate')
def _aggregate_fake(weights: Tensor, value: Tensor,
                    kernel_size: int) -> Tensor:
    B, _, H, W = weights.shape
    return _empty(value, B, value.shape[1], H, W)


@torch.library.register_fake(f'{NAMESPACE}::similarity_backward')
def _similarity_backward_fake(
        grad: Tensor, query: Tensor, key: Tensor, kernel_size: int,
        output_mask: List[bool]) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    return (_empty(query, *query.shape) if output_mask[0] else None,
            _empty(key, *key.shape) if output_mask[1] else None)


@torch.library.register_fake(f'{NAMESPACE}::similarity_softmax_backward')
def _similarity_softmax_backward_fake(
        grad: Tensor, weights: Tensor, query: Tensor, key: Tensor,
        kernel_size: int,
        output_mask: List[bool]) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    return _similarity_backward_fake(grad, query, key, kernel_size,
                                     output_mask)


@torch.library.register_fake(f'{NAMESPACE}::aggregate_backward')
def _aggregate_backward_fake(
        grad: Tensor, weights: Tensor, value: Tensor, kernel_size: int,
        output_mask: List[bool]) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    return (_empty(weights, *weights.shape, memory_format=torch.channels_last)
            if output_mask[0] else None,
            _empty(value, *value.shape) if output_mask[1] else None)


@torch.library.register_fake(f'{NAMESPACE}::channel_stats')
def _channel_stats_fake(x: Tensor, eps: float) -> Tuple[Tensor, Tensor]:
    B, _, H, W = x.shape
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    return x.new_empty(B, H, W, dtype=dtype), x.new_empty(B, H, W, dtype=dtype)


@torch.library.register_fake(f'{NAMESPACE}::channel_stats_linear')
def _channel_stats_linear_fake(x: Tensor, weight: Tensor,
                               eps: float) -> Tuple[Tensor, Tensor, Tensor]:
    B, _, H, W = x.shape
    mean, rstd = _channel_stats_fake(x, eps)
    return x.new_empty(B, weight.shape[0], H, W), mean, rstd


@torch.library.register_fake(f'{NAMESPACE}::channel_norm_backward_')
def _channel_norm_backward_fake(grad: Tensor, x: Tensor, mean: Tensor,
                                rstd: Tensor) -> None:
    return None


@torch.library.register_fake(f'{NAMESPACE}::channel_linear_norm_backward')
def _channel_linear_norm_backward_fake(grad: Tensor, weight: Tensor, x: Tensor,
                                       mean: Tensor, rstd: Tensor) -> Tensor:
    return _empty(x, *x.shape)


# Autograd: the backward ops compute the gradients of the tensor inputs
# that need one.
def _save_inputs(ctx, inputs, output) -> None:
    first, second, kernel_size = inputs
    ctx.save_for_backward(first, second)
    ctx.kernel_size = kernel_size


def _similarity_grad(ctx, grad: Tensor):
    query, key = ctx.saved_tensors
    grad_query, grad_key = torch.ops.sapa_mm.similarity_backward(
        grad, query, key, ctx.kernel_size, ctx.needs_input_grad[:2])
    return grad_query, grad_key, None


def _aggregate_grad(ctx, grad: Tensor):
    weights, value = ctx.saved_tensors
    grad_weights, grad_value = torch.ops.sapa_mm.aggregate_backward(
        grad, weights, value, ctx.kernel_size, ctx.needs_input_grad[:2])
    return grad_weights, grad_value, None


def _save_inputs_and_output(ctx, inputs, output) -> None:
    query, key, kernel_size = inputs
    ctx.save_for_backward(output, query, key)
    ctx.kernel_size = kernel_size


def _similarity_softmax_grad(ctx, grad: Tensor):
    weights, query, key = ctx.saved_tensors
    grad_query, grad_key = torch.ops.sapa_mm.similarity_softmax_backward(
        grad, weights, query, key, ctx.kernel_size, ctx.needs_input_grad[:2])
    return grad_query, grad_key, None


torch.library.register_autograd(
    f'{NAMESPACE}::similarity', _similarity_grad, setup_context=_save_inputs)
torch.library.register_autograd(
    f'{NAMESPACE}::similarity_softmax', _similarity_softmax_grad,
    setup_context=_save_inputs_and_output)
torch.library.register_autograd(
    f'{NAMESPACE}::aggregate', _aggregate_grad, setup_context=_save_inputs)
