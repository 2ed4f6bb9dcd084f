# BTS R50 on NYU Depth V2, the nearest baseline of the SAPA depth table:
# BTS's decoder, its 2x nearest up-convolutions unchanged.
_base_ = './_base_/bts_r50_4xb4-50e_nyu-416x544.py'
model = dict(decode_head=dict(upsample_cfg=dict(type='nearest')))
