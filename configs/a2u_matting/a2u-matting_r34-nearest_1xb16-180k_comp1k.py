# Nearest-neighbour 2x in every decoder stage: the table's baseline.
_base_ = './_base_/a2u-matting_r34_comp1k.py'
model = dict(decode_head=dict(upsample_cfg=dict(type='nearest')))
