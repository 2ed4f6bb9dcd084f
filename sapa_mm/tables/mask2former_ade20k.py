"""Semantic segmentation on ADE20K, Mask2Former Swin-B, 640x640, 160k."""
from .segformer_ade20k import SAPA_G_DEVIATIONS, UPSTREAM
from .table import Metric, Row, Table

TABLE = Table(
    name='mask2former-ade20k',
    title='Semantic segmentation on ADE20K: Mask2Former Swin-B, 640x640, '
    '160k',
    config='configs/mask2former/mask2former_swin-b-in22k-{}_8xb2-160k_'
    'ade20k-640x640.py',
    metrics=(Metric('mIoU', 'mIoU'), ),
    rows=(
        Row('bilinear', 'Bilinear', dict(type='bilinear'), (53.90, ), '223',
            '107', deviations=dict(FLOPs=UPSTREAM)),
        Row('carafe', 'CARAFE', dict(type='GuidedCARAFE'), (53.94, ),
            '+0.63', '+0.07',
            deviations=dict(FLOPs='unexplained: +0.64 measured')),
        Row('indexnet', 'IndexNet', dict(type='IndexNet'), (54.71, ),
            '+13.44', '+2.10'),
        Row('a2u', 'A2U', dict(type='A2U'), (54.40, ), '+0.18', '+0.01'),
        Row('sapa-i', 'SAPA-I', dict(type='SAPA-I'), (55.05, ), '+0.33',
            '+0.00'),
        Row('sapa-b', 'SAPA-B', dict(type='SAPA-B'), (54.98, ), '+0.45',
            '+0.02'),
        Row('sapa-g', 'SAPA-G', dict(type='SAPA-G'), (55.22, ), '+0.45',
            '+0.02', deviations=SAPA_G_DEVIATIONS),
    ),
    flops_shape=(640, 640),
    upsampling_shape=((80, 80), (160, 160)),  # 1/8 -> 1/4
    dataset='ade20k')
