"""Data transforms registered in mmseg's ``TRANSFORMS``."""
from .photometric_jitter import BTSPhotometricJitter

__all__ = ['BTSPhotometricJitter']
