"""Input validation of the SAPA operators, run once in Python before any
kernel: errors name the argument and the shapes that were expected."""
from torch import Tensor


def check_kernel_size(op: str, kernel_size: int) -> None:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int):
        raise TypeError(f'{op}: kernel_size must be an int, got '
                        f'{type(kernel_size).__name__} {kernel_size!r}')
    if kernel_size <= 0 or kernel_size % 2 == 0:
        raise ValueError(f'{op}: kernel_size must be odd and positive, got '
                         f'{kernel_size}')


def check_positive_ints(op: str, **values: int) -> None:
    """Each keyword's value is a positive int (not a bool)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or \
                value <= 0:
            raise ValueError(f'{op}: {name} must be a positive int, got '
                             f'{value!r}')


def check_feature(op: str, name: str, t: Tensor) -> None:
    """A 4-D floating-point (B, C, H, W) tensor."""
    if not isinstance(t, Tensor):
        raise TypeError(f'{op}: {name} must be a Tensor, got '
                        f'{type(t).__name__}')
    if t.dim() != 4:
        raise ValueError(f'{op}: {name} must be 4-D (B, C, H, W), got '
                         f'{name}.shape={tuple(t.shape)}')
    if not t.is_floating_point():
        raise TypeError(f'{op}: {name} must be floating point, got '
                        f'{name}.dtype={t.dtype}')


def check_pair(op: str, hi_name: str, hi: Tensor, lo_name: str,
               lo: Tensor, same_dtype: bool = True) -> None:
    """A high-res (B, *, H, W) and a low-res (B, *, h, w) tensor on the same
    device, with 0 < h <= H and 0 < w <= W, and of the same dtype unless
    ``same_dtype`` is False (modules that cast their inputs)."""
    check_feature(op, hi_name, hi)
    check_feature(op, lo_name, lo)
    shapes = (f'{hi_name}.shape={tuple(hi.shape)}, '
              f'{lo_name}.shape={tuple(lo.shape)}')
    if hi.device != lo.device:
        raise ValueError(f'{op}: {hi_name} is on {hi.device} but {lo_name} is '
                         f'on {lo.device}')
    if same_dtype and hi.dtype != lo.dtype:
        raise TypeError(f'{op}: {hi_name}.dtype={hi.dtype} but '
                        f'{lo_name}.dtype={lo.dtype}; cast them to one dtype')
    if hi.shape[0] != lo.shape[0]:
        raise ValueError(f'{op}: batch sizes differ: {shapes}')
    h, w = lo.shape[-2:]
    H, W = hi.shape[-2:]
    if h == 0 or w == 0:
        raise ValueError(f'{op}: {lo_name} has an empty spatial size: '
                         f'{shapes}')
    if H < h or W < w:
        raise ValueError(f'{op}: the output size (H, W)=({H}, {W}) of '
                         f'{hi_name} must be at least the size (h, w)=({h}, '
                         f'{w}) of {lo_name}: {shapes}')


def check_channels(op: str, name: str, t: Tensor, expected: int,
                   why: str) -> None:
    if t.shape[1] != expected:
        raise ValueError(f'{op}: {name} must have {expected} channels '
                         f'({why}), got {name}.shape={tuple(t.shape)}')


def check_similarity(query: Tensor, key: Tensor, kernel_size: int,
                     op: str = 'similarity') -> None:
    check_kernel_size(op, kernel_size)
    check_pair(op, 'query', query, 'key', key)
    check_channels(op, 'key', key, query.shape[1], "query's channels")


def check_aggregate(weights: Tensor, value: Tensor, kernel_size: int,
                    op: str = 'aggregate') -> None:
    check_kernel_size(op, kernel_size)
    check_pair(op, 'weights', weights, 'value', value)
    check_channels(op, 'weights', weights, kernel_size * kernel_size,
                   f'kernel_size**2 for kernel_size={kernel_size}')


def check_sapa(query: Tensor, key: Tensor, value: Tensor,
               kernel_size: int) -> None:
    check_similarity(query, key, kernel_size, op='sapa')
    check_pair('sapa', 'query', query, 'value', value)
    if value.shape[-2:] != key.shape[-2:]:
        raise ValueError(f'sapa: value and key must have the same spatial '
                         f'size, got value.shape={tuple(value.shape)}, '
                         f'key.shape={tuple(key.shape)}')
