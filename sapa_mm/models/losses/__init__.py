"""Losses registered in mmseg's ``MODELS``."""
from .silog_loss import BTSSiLogLoss, bts_silog_loss

__all__ = ['BTSSiLogLoss', 'bts_silog_loss']
