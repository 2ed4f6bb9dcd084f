"""Object detection on COCO, Faster R-CNN R50-FPN 1x."""
from .segformer_ade20k import SAPA_G
from .table import Metric, Row, Table

TABLE = Table(
    name='faster-rcnn-coco',
    title='Object detection on COCO: Faster R-CNN R50-FPN 1x',
    config='configs/faster_rcnn/faster-rcnn_r50_guided-fpn-{}_1x_coco.py',
    metrics=(Metric('AP', 'coco/bbox_mAP', 100.0, 1),
             Metric('AP50', 'coco/bbox_mAP_50', 100.0, 1),
             Metric('AP75', 'coco/bbox_mAP_75', 100.0, 1),
             Metric('APs', 'coco/bbox_mAP_s', 100.0, 1),
             Metric('APm', 'coco/bbox_mAP_m', 100.0, 1),
             Metric('APl', 'coco/bbox_mAP_l', 100.0, 1)),
    rows=(
        Row('nearest', 'Nearest', dict(type='nearest'),
            (37.4, 58.1, 40.4, 21.2, 41.0, 48.1), None, '41.53'),
        Row('carafe', 'CARAFE', dict(type='GuidedCARAFE'),
            (38.6, 59.9, 42.2, 23.3, 42.2, 49.7), None, '+0.22'),
        Row('indexnet', 'IndexNet', dict(type='IndexNet'),
            (37.6, 58.4, 40.9, 21.5, 41.3, 49.2), None, '+6.30'),
        Row('a2u', 'A2U', dict(type='A2U'),
            (37.3, 58.7, 40.0, 21.7, 41.1, 48.5), None, '+0.03'),
        Row('sapa-i', 'SAPA-I', dict(type='SAPA-I'),
            (37.7, 59.2, 40.6, 22.2, 41.2, 48.4), None, '+0'),
        Row('sapa-b', 'SAPA-B', dict(type='SAPA-B'),
            (37.8, 59.2, 40.6, 22.4, 41.4, 49.1), None, '+0.05'),
        Row('sapa-g', 'SAPA-G', dict(type='SAPA-G'),
            (37.8, 59.1, 40.8, 21.5, 41.4, 48.6), None, '+0.05',
            deviations=dict(Params=SAPA_G)),
    ),
    flops_shape=(800, 1333),
    upsampling_shape=((100, 168), (200, 336)),  # P3 -> P2, padded to 32
    dataset='coco')
