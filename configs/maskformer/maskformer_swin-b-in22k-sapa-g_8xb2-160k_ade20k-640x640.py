# SAPA-G in the 3 top-down steps of MaskFormer's pixel decoder, each guided by
# the lateral feature it is added to. GuidedMaskFormerHead keeps the memory
# projection that mmdet's head gives only to an exact PixelDecoder.
_base_ = './maskformer_swin-b-in22k-nearest_8xb2-160k_ade20k-640x640.py'
model = dict(
    decode_head=dict(
        type='GuidedMaskFormerHead',
        pixel_decoder=dict(
            type='mmdet.GuidedPixelDecoder',
            upsample_cfg=dict(type='SAPA-G'))))
