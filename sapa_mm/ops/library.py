"""The ``sapa_mm::*`` torch operators: schemas, kernels, fake tensors and
autograd.

The ops work on contiguous channels-last (B, H, W, C) tensors (see
``ops/include/sapa_ops.h``). The compiled extension defines them and registers
its CPU/CUDA kernels; where it is missing (or lacks CUDA) the same ops are
backed by the pure-PyTorch reference, so callers, ``torch.compile`` and FLOP
counters always see the same named ops. Fake (meta) kernels and autograd are
registered here for both cases.
"""
import warnings
from typing import Tuple

import torch
from torch import Tensor

from . import reference
from .extension import BUILD_HINT, EXT_HAS_CUDA, HAS_EXT, IMPORT_ERROR

NAMESPACE = 'sapa_mm'

#: Schemas of the ops; the compiled extension defines the same ones in
#: ops/sapa.cpp (a test checks that they agree).
SCHEMAS = {
    'similarity': '(Tensor query, Tensor key, int kernel_size) -> Tensor',
    'similarity_backward': '(Tensor grad, Tensor query, Tensor key, '
    'int kernel_size) -> (Tensor, Tensor)',
    'aggregate': '(Tensor weights, Tensor value, int kernel_size) -> Tensor',
    'aggregate_backward': '(Tensor grad, Tensor weights, Tensor value, '
    'int kernel_size) -> (Tensor, Tensor)',
}


def _nchw(t: Tensor) -> Tensor:
    return t.permute(0, 3, 1, 2)


def _nhwc(t: Tensor) -> Tensor:
    return t.permute(0, 2, 3, 1).contiguous()


# The reference, in the ops' channels-last layout. The backward passes are
# composed exactly as in sapa_ops.h: window sums and their transposes.
def _similarity_reference(query: Tensor, key: Tensor,
                          kernel_size: int) -> Tensor:
    return _nhwc(
        reference.similarity(_nchw(query), _nchw(key), kernel_size))


def _similarity_backward_reference(grad: Tensor, query: Tensor, key: Tensor,
                                   kernel_size: int) -> Tuple[Tensor, Tensor]:
    grad = _nchw(grad)
    grad_query = reference.aggregate(grad, _nchw(key), kernel_size)
    grad_key = reference.window_gather(grad, _nchw(query), key.shape[1:3],
                                       kernel_size)
    return _nhwc(grad_query), _nhwc(grad_key)


def _aggregate_reference(weights: Tensor, value: Tensor,
                         kernel_size: int) -> Tensor:
    return _nhwc(
        reference.aggregate(_nchw(weights), _nchw(value), kernel_size))


def _aggregate_backward_reference(grad: Tensor, weights: Tensor,
                                  value: Tensor,
                                  kernel_size: int) -> Tuple[Tensor, Tensor]:
    grad = _nchw(grad)
    grad_weights = reference.similarity(grad, _nchw(value), kernel_size)
    grad_value = reference.window_gather(_nchw(weights), grad,
                                         value.shape[1:3], kernel_size)
    return _nhwc(grad_weights), _nhwc(grad_value)


_REFERENCE_KERNELS = {
    'similarity': _similarity_reference,
    'similarity_backward': _similarity_backward_reference,
    'aggregate': _aggregate_reference,
    'aggregate_backward': _aggregate_backward_reference,
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
    for name, kernel in _REFERENCE_KERNELS.items():
        torch.library.impl(f'{NAMESPACE}::{name}', dispatch_key)(
            _with_warning(kernel, device_type))


if not HAS_EXT:
    for _name, _schema in SCHEMAS.items():
        torch.library.define(f'{NAMESPACE}::{_name}', _schema)
    _register_reference('CPU', 'cpu')
if not EXT_HAS_CUDA:
    _register_reference('CUDA', 'cuda')


# Fake kernels: shapes only, for torch.compile, meta tensors and FLOP tracing.
@torch.library.register_fake(f'{NAMESPACE}::similarity')
def _similarity_fake(query: Tensor, key: Tensor, kernel_size: int) -> Tensor:
    B, H, W, _ = query.shape
    return query.new_empty(B, H, W, kernel_size * kernel_size)


@torch.library.register_fake(f'{NAMESPACE}::aggregate')
def _aggregate_fake(weights: Tensor, value: Tensor,
                    kernel_size: int) -> Tensor:
    B, H, W, _ = weights.shape
    return value.new_empty(B, H, W, value.shape[3])


@torch.library.register_fake(f'{NAMESPACE}::similarity_backward')
def _similarity_backward_fake(grad: Tensor, query: Tensor, key: Tensor,
                              kernel_size: int) -> Tuple[Tensor, Tensor]:
    return torch.empty_like(query), torch.empty_like(key)


@torch.library.register_fake(f'{NAMESPACE}::aggregate_backward')
def _aggregate_backward_fake(grad: Tensor, weights: Tensor, value: Tensor,
                             kernel_size: int) -> Tuple[Tensor, Tensor]:
    return torch.empty_like(weights), torch.empty_like(value)


# Autograd: the backward ops return the gradients of both tensor inputs.
def _save_inputs(ctx, inputs, output) -> None:
    first, second, kernel_size = inputs
    ctx.save_for_backward(first, second)
    ctx.kernel_size = kernel_size


def _similarity_grad(ctx, grad: Tensor):
    query, key = ctx.saved_tensors
    grad_query, grad_key = torch.ops.sapa_mm.similarity_backward(
        grad.contiguous(), query, key, ctx.kernel_size)
    return grad_query, grad_key, None


def _aggregate_grad(ctx, grad: Tensor):
    weights, value = ctx.saved_tensors
    grad_weights, grad_value = torch.ops.sapa_mm.aggregate_backward(
        grad.contiguous(), weights, value, ctx.kernel_size)
    return grad_weights, grad_value, None


torch.library.register_autograd(
    f'{NAMESPACE}::similarity', _similarity_grad, setup_context=_save_inputs)
torch.library.register_autograd(
    f'{NAMESPACE}::aggregate', _aggregate_grad, setup_context=_save_inputs)
