"""Pixel decoders registered in mmdet's ``MODELS``."""
from .guided_pixel_decoders import (
                                    GuidedMSDeformAttnPixelDecoder,
                                    GuidedPixelDecoder,
)

__all__ = ['GuidedMSDeformAttnPixelDecoder', 'GuidedPixelDecoder']
