# A2U (upsampling only) in every decoder stage.
_base_ = './_base_/a2u-matting_r34_comp1k.py'
model = dict(decode_head=dict(upsample_cfg=dict(type='A2U')))
