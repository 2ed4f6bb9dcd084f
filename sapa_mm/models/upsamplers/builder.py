"""``upsample_cfg`` -> guided upsampler: what heads and necks call.

Two builders read mmengine's root ``MODELS``: mmcv's
``build_upsample_layer``, whose layers take ``forward(x)``, and
:func:`build_guided_upsampler`, whose modules take ``forward(x, guide)``.
Each name means one class: 'GuidedCARAFE' is the guided CARAFE, while
'carafe' is mmcv's ``CARAFEPack``. Configs written before that distinction
(``type='carafe'`` in an ``upsample_cfg``) still build GuidedCARAFE, with a
warning that names the unambiguous type; a layer of the other builder gets
an error that says which builder it belongs to.
"""
import warnings
from typing import Union

from mmengine.registry import MODELS
from torch import nn

from .guided import GuidedUpsampler

#: Fixed interpolation modes: the same resize in both builders (mmcv's
#: ``nn.Upsample``, here :class:`GuidedResize` to the guide's size).
RESIZE_MODES = ('nearest', 'bilinear', 'bicubic')
#: mmcv's names of CARAFE, which ``build_upsample_layer`` builds as
#: ``CARAFEPack`` (forward(x)); here they still mean GuidedCARAFE.
MMCV_CARAFE_NAMES = ('carafe', 'CARAFE')


def init_guided_upsamplers(module: nn.Module) -> None:
    """Re-runs the own initialisation of every guided upsampler in
    ``module``: a parent's ``init_cfg`` (e.g. Xavier on every Conv2d) reaches
    their layers too, and mmengine does not call ``init_weights`` through
    plain ``nn.ModuleList``s."""
    for m in module.modules():
        if isinstance(m, GuidedUpsampler) and hasattr(m, 'init_weights'):
            m.init_weights()


def _resolve(layer_type: Union[str, type]) -> tuple:
    """(class, default kwargs) of an ``upsample_cfg`` type."""
    if isinstance(layer_type, type):
        return layer_type, {}
    if layer_type in RESIZE_MODES:
        return MODELS.get('GuidedResize'), dict(mode=layer_type)
    if layer_type in MMCV_CARAFE_NAMES:
        warnings.warn(
            f"upsample_cfg type={layer_type!r} is mmcv's CARAFEPack "
            f"(forward(x)) in mmcv.cnn.build_upsample_layer; for the guided "
            f"upsampler write type='GuidedCARAFE' (built here as that).",
            DeprecationWarning, stacklevel=3)
        layer_type = 'GuidedCARAFE'
    cls = MODELS.get(layer_type)
    if cls is None and layer_type == 'GuidedCARAFE':
        raise ImportError("upsample_cfg type='GuidedCARAFE' needs mmcv's "
                          'ops: install mmcv (see the README, section '
                          'Install)')
    return cls, {}


def build_guided_upsampler(cfg: Union[dict, None], in_channels: int,
                           guide_channels: int) -> GuidedUpsampler:
    """Builds a guided upsampler from an ``upsample_cfg``.

    Args:
        cfg: ``dict(type=..., **kwargs)``. ``type`` is 'nearest', 'bilinear',
            'bicubic', or any registered :class:`GuidedUpsampler`
            ('GuidedCARAFE', 'SAPA', 'SAPA-I', 'SAPA-B', 'SAPA-G',
            'IndexNet', 'A2U', ...), or such a class.
        in_channels: channels of the low-res input ``x``.
        guide_channels: channels of the high-res guide.

    Returns:
        A module with ``forward(x, guide)``.

    Raises:
        TypeError: ``cfg`` is not a dict with a 'type'.
        ValueError: the type is not a guided upsampler (e.g. an mmcv
            upsample layer, which ``build_upsample_layer`` builds).
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'upsample_cfg must be a dict with a "type" key, got '
                        f'{cfg!r}')
    kwargs = dict(cfg)
    layer_type = kwargs.pop('type')
    cls, defaults = _resolve(layer_type)
    if not (isinstance(cls, type) and issubclass(cls, GuidedUpsampler)):
        found = '' if cls is None else (
            f' ({cls.__name__}, a layer with forward(x): build it with '
            f'mmcv.cnn.build_upsample_layer)')
        raise ValueError(
            f'upsample_cfg type={layer_type!r} is not a guided upsampler'
            f'{found}; use one of {list(RESIZE_MODES)} or a registered '
            f"GuidedUpsampler such as 'SAPA-B' or 'GuidedCARAFE'")
    return cls(in_channels=in_channels, guide_channels=guide_channels,
               **{**defaults, **kwargs})
