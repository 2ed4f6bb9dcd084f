"""Decode heads registered in mmseg's ``MODELS``."""
from .guided_maskformer_head import GuidedMaskFormerHead
from .guided_segformer_head import GuidedSegformerHead

__all__ = ['GuidedMaskFormerHead', 'GuidedSegformerHead']
