# CARAFE in the 3 top-down steps of the plain FPN, with the CARAFE settings
# and padding of mmdet's carafe/faster-rcnn_r50_fpn-carafe_1x_coco.py (whose
# FPN_CARAFE neck also adds a 3x3 conv for P6, +5.6M parameters).
_base_ = './faster-rcnn_r50_guided-fpn-nearest_1x_coco.py'
model = dict(
    data_preprocessor=dict(pad_size_divisor=64),
    neck=dict(
        upsample_cfg=dict(
            type='GuidedCARAFE',
            up_kernel=5,
            up_group=1,
            encoder_kernel=3,
            encoder_dilation=1,
            compressed_channels=64)))
