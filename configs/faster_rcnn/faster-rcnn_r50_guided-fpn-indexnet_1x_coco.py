# IndexNet in the 3 top-down steps of the FPN.
_base_ = './faster-rcnn_r50_guided-fpn-nearest_1x_coco.py'
model = dict(neck=dict(upsample_cfg=dict(type='IndexNet')))
