"""A2U matting (ResNet-34) with a swappable guided upsampler, registered in
mmseg's ``MODELS`` (the scope of the matting configs): the encoder, ASPP,
decoder, data preprocessor and the mmengine model."""
from .aspp import MattingASPP
from .data_preprocessor import MattingDataPreprocessor
from .decoder import GuidedMattingDecoder
from .encoder import MattingResNet34
from .guided_mattor import GuidedMattor

__all__ = ['GuidedMattingDecoder', 'GuidedMattor', 'MattingASPP',
           'MattingDataPreprocessor', 'MattingResNet34']
