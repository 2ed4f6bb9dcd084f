"""Mini datasets: small synthetic scenes written in the real on-disk formats
(one writer per task), so that the upstream dataset classes load them
unchanged and every config runs on them by pointing ``data_root`` there."""
from .ade20k import make_ade20k
from .coco import make_coco

__all__ = ['make_ade20k', 'make_coco']
