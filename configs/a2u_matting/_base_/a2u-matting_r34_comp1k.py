# A2U matting (ResNet-34) on Adobe Composition-1K with one swappable guided
# upsampler in its four decoder stages; the rows set only upsample_cfg.
# Recipe of the A2U matting authors: two-foreground mixing, resizing, random
# affine transforms, online compositing, trimaps by random erosion, 512x512
# crops at unknown pixels, flips, HSV jitter; Adam, lr 0.01 (1e-4 for the
# encoder), batch 16, 180k iterations, x0.1 at 120k and 156k.
default_scope = 'mmseg'
custom_imports = dict(imports=['sapa_mm'], allow_failed_imports=False)

data_root = 'data/adobe_composition-1k'
crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    type='GuidedMattor',
    data_preprocessor=dict(type='MattingDataPreprocessor'),
    backbone=dict(
        type='MattingResNet34',
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet34')),
    neck=dict(type='MattingASPP', norm_cfg=norm_cfg),
    decode_head=dict(
        type='GuidedMattingDecoder',
        norm_cfg=norm_cfg,
        upsample_cfg=dict(type='nearest')),
    alpha_weight=0.5,
    comp_weight=0.5)

train_pipeline = [
    dict(type='LoadMattingFiles', keys=('alpha', 'fg', 'bg')),
    dict(type='MixForegrounds', prob=0.5),
    dict(type='ResizeForeground', size=(640, 640), prob=0.25),
    dict(type='RandomAffine', degrees=30, scale=(0.8, 1.25), shear=10),
    dict(type='GenerateTrimap', kernel_range=(1, 29)),
    dict(type='CropAroundUnknown', crop_size=crop_size),
    dict(type='MattingFlip', prob=0.5),
    dict(type='HSVJitter'),
    dict(type='CompositeFg'),
    dict(type='PackMattingInputs'),
]
test_pipeline = [
    dict(type='LoadMattingFiles', keys=('merged', 'alpha', 'trimap')),
    dict(type='PackMattingInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='Comp1kDataset',
        data_root=data_root,
        ann_file='training_list.json',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='Comp1kDataset',
        data_root=data_root,
        ann_file='test_list.json',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='SAD'),
    dict(type='MattingMSE'),
    dict(type='GradientError'),
    dict(type='ConnectivityError'),
]
test_evaluator = val_evaluator

# lr 0.01 for the ASPP, the decoder (upsamplers included) and the
# prediction; 1e-4 for the encoder.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=0.01, betas=(0.9, 0.999)),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.01)}))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[120000, 156000],
         gamma=0.1)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=180000,
                 val_interval=20000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=20000),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
