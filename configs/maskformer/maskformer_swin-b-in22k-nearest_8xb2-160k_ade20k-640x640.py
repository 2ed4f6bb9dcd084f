# MaskFormer Swin-B (ImageNet-22K, 384), ADE20K 640x640, 160k, as in the
# MaskFormer paper's Swin-B ADE20K setting: mmseg's MaskFormer Swin config
# with the Swin-B backbone and the 640x640 pipelines of
# mmseg::_base_/datasets/ade20k_640x640.py. The nearest baseline keeps mmdet's
# PixelDecoder; the other rows inherit this config and change only the pixel
# decoder.
_base_ = 'mmseg::maskformer/maskformer_swin-s_upernet_8xb2-160k_ade20k-512x512.py'  # noqa
custom_imports = dict(imports=['sapa_mm'], allow_failed_imports=False)

pretrained = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/swin_base_patch4_window12_384_22k_20220317-e5c09f74.pth'  # noqa
crop_size = (640, 640)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        pretrain_img_size=384,
        embed_dims=128,
        window_size=12,
        num_heads=[4, 8, 16, 32],
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=(2560, 640),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2560, 640), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
