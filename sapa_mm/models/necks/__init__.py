"""Necks registered in mmdet's ``MODELS``."""
from .guided_fpn import GuidedFPN

__all__ = ['GuidedFPN']
