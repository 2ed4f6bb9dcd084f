"""The modules users build from configs: the guided upsamplers
(:mod:`.upsamplers`, mmengine's root ``MODELS``) and the task adapters that
take an ``upsample_cfg``: mmseg decode heads (:mod:`.decode_heads`), mmdet
necks (:mod:`.necks`) and pixel decoders (:mod:`.pixel_decoders`), each
imported where its toolbox is installed."""
from importlib.util import find_spec

from .upsamplers import *  # noqa: F401,F403
from .upsamplers import __all__ as _upsamplers_all

__all__ = list(_upsamplers_all)

if find_spec('mmdet') is not None:
    from .necks import GuidedFPN  # noqa: F401
    from .pixel_decoders import (  # noqa: F401
        GuidedMSDeformAttnPixelDecoder,
        GuidedPixelDecoder,
    )
    __all__ += [
        'GuidedFPN', 'GuidedMSDeformAttnPixelDecoder', 'GuidedPixelDecoder'
    ]
if find_spec('mmseg') is not None:
    from .backbones import ResNetWithStem  # noqa: F401
    from .decode_heads import (  # noqa: F401
        BTSHead,
        GuidedMaskFormerHead,
        GuidedSegformerHead,
        LocalPlanarGuidance,
    )
    from .losses import BTSSiLogLoss  # noqa: F401
    from .mattors import (  # noqa: F401
        GuidedMattingDecoder,
        GuidedMattor,
        MattingASPP,
        MattingDataPreprocessor,
        MattingResNet34,
    )
    __all__ += [
        'BTSHead', 'BTSSiLogLoss', 'GuidedMaskFormerHead',
        'GuidedMattingDecoder', 'GuidedMattor', 'GuidedSegformerHead',
        'LocalPlanarGuidance', 'MattingASPP', 'MattingDataPreprocessor',
        'MattingResNet34', 'ResNetWithStem'
    ]
