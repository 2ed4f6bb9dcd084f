"""Synthetic datasets in the ADE20K and COCO on-disk formats."""
from .synthetic import make_ade20k, make_coco

__all__ = ['make_ade20k', 'make_coco']
