# CARAFE in the 1/8 -> 1/4 step of Mask2Former's pixel decoder, guided by the
# 1/4 lateral feature it is added to.
_base_ = './mask2former_swin-b-in22k-bilinear_8xb2-160k_ade20k-640x640.py'
model = dict(
    decode_head=dict(
        pixel_decoder=dict(
            type='mmdet.GuidedMSDeformAttnPixelDecoder',
            upsample_cfg=dict(type='GuidedCARAFE'))))
