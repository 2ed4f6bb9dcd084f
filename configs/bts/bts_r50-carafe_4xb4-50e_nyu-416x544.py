# CARAFE (kernels predicted from x) in BTS's upconv5..2,
# each guided by the encoder's feature at the target scale.
_base_ = './_base_/bts_r50_4xb4-50e_nyu-416x544.py'
model = dict(decode_head=dict(upsample_cfg=dict(type='GuidedCARAFE')))
