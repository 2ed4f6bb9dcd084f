"""Data transforms registered in mmseg's ``TRANSFORMS``."""
from .fixed_crop import FixedCrop
from .photometric_jitter import BTSPhotometricJitter

__all__ = ['BTSPhotometricJitter', 'FixedCrop']
