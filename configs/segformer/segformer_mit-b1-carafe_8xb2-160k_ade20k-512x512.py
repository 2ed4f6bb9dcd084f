# CARAFE in SegFormer's head: each stage reaches 1/4 through cascaded 2x steps,
# each guided by the next finer projected stage (6 upsamplers).
_base_ = './segformer_mit-b1-bilinear_8xb2-160k_ade20k-512x512.py'
model = dict(
    decode_head=dict(
        type='GuidedSegformerHead', upsample_cfg=dict(type='GuidedCARAFE')))
