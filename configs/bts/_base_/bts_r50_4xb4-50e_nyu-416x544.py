# BTS (Lee et al. 2019) with a ResNet-50 encoder on NYU Depth V2, BTS's
# recipe in mmseg: 416x544 crops, batch 16 (4 GPUs x 4), AdamW, poly LR, 50
# epochs; tested on the full 480x640 frames with the Eigen crop. The rows of
# configs/bts/ inherit this and change only the decode head's upsample_cfg.
# What differs from BTS's code and why: docs/depth.md.
_base_ = 'mmseg::_base_/default_runtime.py'
custom_imports = dict(imports=['sapa_mm'], allow_failed_imports=False)

crop_size = (416, 544)
max_depth = 10.0
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    # Depth maps are padded with 0, which the loss and the metric ignore:
    # mmseg's default 255 would be a valid 255 m depth.
    seg_pad_val=0,
    size=crop_size)
model = dict(
    type='DepthEstimator',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNetWithStem',
        depth=50,
        out_indices=(0, 1, 2, 3),
        style='pytorch',
        # BTS trains the encoder with its first conv and every BN's affine
        # parameters fixed (the BN statistics still update).
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    decode_head=dict(
        type='BTSHead',
        in_channels=(64, 256, 512, 1024, 2048),
        channels=512,
        max_depth=max_depth,
        min_depth=1e-3,
        upsample_cfg=dict(type='nearest'),
        loss_decode=dict(type='BTSSiLogLoss', variance_focus=0.85,
                         min_depth=0.1)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

dataset_type = 'NYUDataset'
data_root = 'data/nyu'
meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    # BTS cuts the frame border, where the depth is not registered.
    dict(type='FixedCrop', box=(43, 45, 608, 472)),
    # Rotated-in corners get depth 0 (invalid), not mmseg's default 255.
    dict(type='RandomRotate', prob=1.0, degree=2.5, pad_val=0,
         seg_pad_val=0),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='BTSPhotometricJitter', prob=0.5),
    dict(type='PackSegInputs', meta_keys=meta_keys)
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='PackSegInputs', meta_keys=meta_keys)
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/train', depth_map_path='annotations/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=True,
        data_prefix=dict(
            img_path='images/test', depth_map_path='annotations/test'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# BTS's evaluation: 1e-3 < gt < 10 m inside the Eigen crop, per image, then
# averaged. (depth_metrics is left at its default, every metric: a list
# raises a TypeError in mmseg 1.2.2.)
val_evaluator = dict(
    type='DepthMetric',
    min_depth_eval=1e-3,
    max_depth_eval=max_depth,
    crop_type='nyu_crop')
test_evaluator = val_evaluator

# AdamW with weight decay on the encoder only; poly(0.9) from 1e-4 to 1e-5
# per iteration over 50 epochs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-6,
        weight_decay=1e-2),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=1e-5,
        begin=0,
        end=50,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
log_processor = dict(by_epoch=True)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=True, interval=5, max_keep_ckpts=2,
        save_best='rmse', rule='less'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
