"""Image matting on Adobe Composition-1K, A2U matting (ResNet-34)."""
from .table import Metric, Row, Table

#: The paper prints SAPA-B's Params for SAPA-G, as in its other tables; the
#: released SAPA-G adds W_x and the gate.
SAPA_G = ("the paper prints SAPA-B's number for SAPA-G; the released SAPA-G "
          "adds W_x and the gate")

TABLE = Table(
    name='a2u-matting-comp1k',
    title='Image matting on Adobe Composition-1K: A2U matting (ResNet-34), '
    '512x512 crops, 180k',
    config='configs/a2u_matting/a2u-matting_r34-{}_1xb16-180k_comp1k.py',
    metrics=(Metric('SAD', 'SAD'), Metric('MSE', 'MattingMSE', digits=4),
             Metric('Grad', 'GradientError'),
             Metric('Conn', 'ConnectivityError')),
    rows=(
        Row('nearest', 'Nearest', dict(type='nearest'),
            (37.51, 0.0096, 19.07, 35.72), None, '8.05'),
        Row('bilinear', 'Bilinear', dict(type='bilinear'),
            (37.31, 0.0103, 21.38, 35.39), None, '8.05'),
        Row('carafe', 'CARAFE', dict(type='GuidedCARAFE'),
            (41.01, 0.0118, 21.39, 39.01), None, '+0.26'),
        # The config adds index_block='depthwise_m2o' (docs/matting.md).
        Row('indexnet', 'IndexNet', dict(type='IndexNet'),
            (34.28, 0.0081, 15.94, 31.91), None, '+12.26'),
        Row('a2u', 'A2U', dict(type='A2U'), (32.15, 0.0082, 16.39, 29.25),
            None, '+0.02'),
        Row('sapa-i', 'SAPA-I', dict(type='SAPA-I'),
            (34.25, 0.0091, 18.93, 32.09), None, '+0'),
        Row('sapa-b', 'SAPA-B', dict(type='SAPA-B'),
            (31.19, 0.0079, 15.48, 28.30), None, '+0.04'),
        Row('sapa-g', 'SAPA-G', dict(type='SAPA-G'),
            (30.98, 0.0077, 15.59, 27.96), None, '+0.04',
            deviations=dict(Params=SAPA_G)),
    ),
    flops_shape=(512, 512),
    upsampling_shape=((32, 32), (64, 64)),  # 1/16 -> 1/8 at 512x512
    dataset='comp1k')
