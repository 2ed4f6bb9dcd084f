# IndexNet matting's depthwise M2O index block (hidden width 2C, see
# docs/matting.md) in every decoder stage.
_base_ = './_base_/a2u-matting_r34_comp1k.py'
model = dict(
    decode_head=dict(
        upsample_cfg=dict(type='IndexNet', index_block='depthwise_m2o')))
