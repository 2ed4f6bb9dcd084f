"""Semantic segmentation on ADE20K, SegFormer MiT-B1, 512x512, 160k."""
from .table import Metric, Row, Table

#: The paper prints SAPA-B's FLOPs and Params for SAPA-G in the segmentation
#: and detection tables; the released gate code adds the projection of x and
#: the gate.
SAPA_G = ("the paper prints SAPA-B's number for SAPA-G; the released SAPA-G "
          "adds W_x and the gate")
SAPA_G_DEVIATIONS = dict(FLOPs=SAPA_G, Params=SAPA_G)
#: The baselines are mmseg's models, not the authors' code.
UPSTREAM = "mmseg's model, not the authors' code"

TABLE = Table(
    name='segformer-ade20k',
    title='Semantic segmentation on ADE20K: SegFormer MiT-B1, 512x512, 160k',
    config='configs/segformer/segformer_mit-b1-{}_8xb2-160k_ade20k-'
    '512x512.py',
    metrics=(Metric('mIoU', 'mIoU'), ),
    rows=(
        Row('bilinear', 'Bilinear', dict(type='bilinear'), (41.68, ),
            '15.91', '13.74',
            deviations=dict(FLOPs=UPSTREAM, Params=UPSTREAM)),
        Row('carafe', 'CARAFE', dict(type='GuidedCARAFE'), (42.82, ),
            '+1.45', '+0.44'),
        Row('indexnet', 'IndexNet', dict(type='IndexNet'), (41.50, ),
            '+30.65', '+12.60'),
        Row('a2u', 'A2U', dict(type='A2U'), (41.45, ), '+0.41', '+0.06'),
        Row('sapa-i', 'SAPA-I', dict(type='SAPA-I'), (43.05, ), '+0.75',
            '+0.00'),
        Row('sapa-b', 'SAPA-B', dict(type='SAPA-B'), (43.20, ), '+1.02',
            '+0.1'),
        Row('sapa-g', 'SAPA-G', dict(type='SAPA-G'), (44.39, ), '+1.02',
            '+0.1', deviations=SAPA_G_DEVIATIONS),
    ),
    flops_shape=(512, 512),
    upsampling_shape=((64, 64), (128, 128)),  # 1/8 -> 1/4
    dataset='ade20k')
