"""Every row's config of every table (sapa_mm.tables.TABLES): the
segmentation and depth models train and test at odd sizes, the detectors
train a step with and without padding; every upsampler gets its
gradients."""
import pytest
import torch

pytest.importorskip('mmseg')
pytest.importorskip('mmdet')
from mmdet.testing import demo_mm_inputs  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

from sapa_mm.analysis.complexity import build_model  # noqa: E402
from sapa_mm.tables import TABLES  # noqa: E402


def rows(dataset):
    """pytest params (table, row) of the tables on ``dataset``."""
    return [
        pytest.param(table, row, id=f'{table.name}-{row.key}')
        for table in TABLES.values() if table.dataset == dataset
        for row in table.rows
    ]


def test_every_table_is_covered():
    """The tests below take every table: its dataset is one of theirs."""
    assert {table.dataset for table in TABLES.values()} <= {
        'ade20k', 'coco', 'comp1k', 'nyu'}


def seg_batch(model, shapes, num_classes=150):
    samples, inputs = [], []
    for h, w in shapes:
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
        label = torch.randint(0, num_classes, (1, h, w))
        label[:, : h // 3] = 255  # some ignored pixels
        samples.append(SegDataSample(
            gt_sem_seg=PixelData(data=label),
            metainfo=dict(img_shape=(h, w), ori_shape=(h, w))))
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples),
                                   True)


@pytest.mark.parametrize('table, row', rows('ade20k'))
def test_segmentation_config_trains_and_tests_at_odd_sizes(table, row):
    config = Config.fromfile(table.config_path(row.key))
    # No padding to the crop size: odd sizes reach the heads as they are.
    config.model.data_preprocessor.size = None
    config.model.data_preprocessor.size_divisor = 1
    model = build_model(config).train()
    data = seg_batch(model, [(67, 83), (60, 75)])
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    upsamplers = [m for name, m in model.named_modules()
                  if name.endswith('upsamplers')]
    assert bool(upsamplers) == (row.key not in ('bilinear', 'nearest'))
    for module in upsamplers:
        assert all(p.grad is not None for p in module.parameters())
    if table.name == 'segformer-ade20k':  # mmseg's default 'whole' test mode
        model.eval()
        data = seg_batch(model, [(171, 128)])
        with torch.no_grad():
            (result, ) = model(**data, mode='predict')
        assert result.pred_sem_seg.shape == (171, 128)


@pytest.mark.parametrize('table, row', rows('coco'))
@pytest.mark.parametrize('pad_size_divisor', [None, 1])
def test_detection_config_trains_one_step(table, row, pad_size_divisor):
    config = Config.fromfile(table.config_path(row.key))
    if pad_size_divisor is not None:  # odd sizes reach the neck unpadded
        config.model.data_preprocessor.pad_size_divisor = pad_size_divisor
    model = build_model(config).train()
    data = demo_mm_inputs(batch_size=2, image_shapes=[(3, 97, 131),
                                                      (3, 90, 120)],
                          num_items=[3, 2], num_classes=80)
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.neck.upsamplers.parameters())


@pytest.mark.parametrize('table, row', rows('comp1k'))
def test_matting_config_trains_one_step(table, row):
    from mmengine.structures import BaseDataElement

    from sapa_mm.models import GuidedUpsampler
    config = Config.fromfile(table.config_path(row.key))
    model = build_model(config).train()
    inputs, samples = [], []
    for _ in range(2):
        trimap = torch.tensor([0., 128., 255.])[torch.randint(0, 3,
                                                               (1, 48, 64))]
        inputs.append(torch.cat([torch.rand(3, 48, 64) * 255, trimap]))
        sample = BaseDataElement(metainfo=dict(img_shape=(48, 64)))
        sample.gt_alpha = torch.rand(1, 48, 64)
        sample.trimap = trimap.to(torch.uint8)
        sample.gt_fg, sample.gt_bg = torch.rand(2, 3, 48, 64)
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples),
                                   True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(loss)
    loss.backward()
    upsamplers = [m for m in model.modules() if isinstance(m, GuidedUpsampler)]
    assert len(upsamplers) == 4
    for module in upsamplers:
        assert all(p.grad is not None for p in module.parameters())
def depth_batch(model, shapes, training=True):
    samples, inputs = [], []
    for h, w in shapes:
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
        depth = torch.rand(1, h, w) * 9 + 0.5
        depth[:, :h // 4] = 0  # no depth
        samples.append(SegDataSample(
            gt_depth_map=PixelData(data=depth),
            metainfo=dict(img_shape=(h, w), ori_shape=(h, w))))
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples),
                                   training)


@pytest.mark.parametrize('table, row', rows('nyu'))
def test_depth_config_trains_and_tests_at_odd_sizes(table, row):
    config = Config.fromfile(table.config_path(row.key))
    # Odd sizes, the smaller image 0-padded to the larger one.
    config.model.data_preprocessor.size = None
    config.model.data_preprocessor.size_divisor = 1
    model = build_model(config).train()
    data = depth_batch(model, [(37, 45), (33, 41)])
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert set(losses) == {'decode.loss_silog'} and torch.isfinite(loss)
    loss.backward()
    head = model.decode_head
    for name in ('upconv5', 'upconv4', 'upconv3', 'upconv2'):
        assert all(p.grad is not None
                   for p in getattr(head, name).upsample.parameters())
    # BTS's frozen encoder parameters: conv1 and every BN's affine ones
    frozen = {n for n, p in model.backbone.named_parameters()
              if not p.requires_grad}
    assert 'conv1.weight' in frozen and 'layer3.2.bn2.weight' in frozen
    assert 'layer1.0.conv1.weight' not in frozen
    if row.key not in ('nearest', 'sapa-b'):  # the head's tests predict
        return
    model.eval()
    data = depth_batch(model, [(171, 128)], training=False)
    with torch.no_grad():
        (result, ) = model(**data, mode='predict')
    depth = result.pred_depth_map.data
    assert depth.shape == (1, 171, 128)
    assert depth.min() >= 1e-3 and depth.max() <= 10
