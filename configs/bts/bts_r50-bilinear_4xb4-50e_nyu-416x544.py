# Bilinear interpolation in BTS's upconv5..2 (not in the paper's table).
_base_ = './_base_/bts_r50_4xb4-50e_nyu-416x544.py'
model = dict(decode_head=dict(upsample_cfg=dict(type='bilinear')))
