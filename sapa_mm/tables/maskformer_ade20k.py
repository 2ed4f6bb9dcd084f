"""Semantic segmentation on ADE20K, MaskFormer Swin-B, 640x640, 160k."""
from .segformer_ade20k import SAPA_G_DEVIATIONS, UPSTREAM
from .table import Metric, Row, Table

TABLE = Table(
    name='maskformer-ade20k',
    title='Semantic segmentation on ADE20K: MaskFormer Swin-B, 640x640, 160k',
    config='configs/maskformer/maskformer_swin-b-in22k-{}_8xb2-160k_'
    'ade20k-640x640.py',
    metrics=(Metric('mIoU', 'mIoU'), ),
    rows=(
        Row('nearest', 'Nearest', dict(type='nearest'), (52.70, ), '195',
            '102', deviations=dict(FLOPs=UPSTREAM)),
        Row('carafe', 'CARAFE', dict(type='GuidedCARAFE'), (53.53, ),
            '+0.84', '+0.22'),
        Row('indexnet', 'IndexNet', dict(type='IndexNet'), (52.92, ),
            '+17.64', '+6.30'),
        Row('a2u', 'A2U', dict(type='A2U'), (52.73, ), '+0.23', '+0.03'),
        Row('sapa-i', 'SAPA-I', dict(type='SAPA-I'), (53.25, ), '+0.43',
            '+0.00'),
        Row('sapa-b', 'SAPA-B', dict(type='SAPA-B'), (53.15, ), '+0.59',
            '+0.05'),
        Row('sapa-g', 'SAPA-G', dict(type='SAPA-G'), (53.78, ), '+0.59',
            '+0.05', deviations=SAPA_G_DEVIATIONS),
    ),
    flops_shape=(640, 640),
    upsampling_shape=((40, 40), (80, 80)),  # 1/16 -> 1/8
    dataset='ade20k')
