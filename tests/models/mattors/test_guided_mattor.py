"""sapa_mm.models.mattors: A2U matting (ResNet-34) with every upsampler of
the table: its parameter count, odd sizes through the padding to 16, an
empty batch, bad input, the losses, the data preprocessor and the
optimizer's learning rates."""
import pytest
import torch

pytest.importorskip('mmseg')
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import BaseDataElement
from mmseg.registry import MODELS

from sapa_mm.models import GuidedUpsampler
from sapa_mm.models.mattors.guided_mattor import fill_known, pad_to_multiple
from sapa_mm.tables import TABLES

TABLE = TABLES['a2u-matting-comp1k']


def build(key):
    config = Config.fromfile(TABLE.config_path(key))
    init_default_scope('mmseg')
    model_cfg = config.model
    model_cfg.backbone.pop('init_cfg')  # no download
    return MODELS.build(model_cfg), config


def batch(shapes, seed=0):
    """(inputs list, data samples) of random images and trimaps."""
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for h, w in shapes:
        rgb = torch.rand(3, h, w, generator=g) * 255
        trimap = torch.tensor([0., 128., 255.])[torch.randint(
            0, 3, (1, h, w), generator=g)]
        inputs.append(torch.cat([rgb, trimap]))
        sample = BaseDataElement(metainfo=dict(img_shape=(h, w),
                                               ori_shape=(h, w)))
        sample.gt_alpha = torch.rand(1, h, w, generator=g)
        sample.trimap = trimap.to(torch.uint8)
        sample.gt_fg = torch.rand(3, h, w, generator=g)
        sample.gt_bg = torch.rand(3, h, w, generator=g)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_baseline_counts_the_issues_parameters():
    model, _ = build('nearest')
    assert sum(p.numel() for p in model.parameters()) == 8_049_003


@pytest.mark.parametrize('key', TABLE.keys)
def test_every_upsampler_at_odd_sizes_and_an_empty_batch(key):
    model, _ = build(key)
    model.eval()
    data = model.data_preprocessor(batch([(37, 45), (29, 50)]))
    # The preprocessor pads the batch to (37, 50); predict pads that to
    # (48, 64) by reflection and crops back to each image's size.
    with torch.no_grad():
        samples = model(**data, mode='predict')
    for sample, (h, w) in zip(samples, [(37, 45), (29, 50)]):
        alpha = sample.pred_alpha
        assert alpha.shape == (h, w)
        assert alpha.min() >= 0 and alpha.max() <= 1
        trimap = sample.trimap[0]
        assert torch.all(alpha[trimap == 0] == 0)
        assert torch.all(alpha[trimap == 255] == 1)
    with torch.no_grad():
        empty = model(torch.zeros(0, 4, 32, 48))
    assert empty.shape == (0, 1, 32, 48)


def test_bad_input_names_the_shapes():
    model, _ = build('nearest')
    with pytest.raises(ValueError, match=r'\(B, 4, H, W\).*\(1, 3, 32, 32\)'):
        model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r'multiples of 16.*\(1, 4, 30, 32\)'):
        model(torch.zeros(1, 4, 30, 32))
    with pytest.raises(ValueError, match=r'inputs\[0\].shape=\(3, 8, 8\)'):
        model.data_preprocessor(dict(inputs=[torch.zeros(3, 8, 8)],
                                     data_samples=[BaseDataElement()]))
    with pytest.raises(ValueError, match="mode must be"):
        model(torch.zeros(1, 4, 32, 32), mode='nope')


def test_data_preprocessor_normalises_and_pads():
    model, _ = build('nearest')
    data = batch([(5, 7), (6, 4)])
    out = model.data_preprocessor(data)['inputs']
    assert out.shape == (2, 4, 6, 7)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    torch.testing.assert_close(out[0, :3, :5, :7],
                               (data['inputs'][0][:3] - mean) / std)
    torch.testing.assert_close(out[1, 3, :6, :4],
                               data['inputs'][1][3] / 255)
    assert torch.all(out[0, :, 5:] == 0) and torch.all(out[1, :, :, 4:] == 0)


def test_losses_over_the_unknown_region():
    model, _ = build('sapa-b')
    model.train()
    data = model.data_preprocessor(batch([(32, 32), (32, 32)]), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_alpha', 'loss_comp'}
    total = sum(losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    upsampler = model.decode_head.stages[0].upsample
    assert all(p.grad is not None for p in upsampler.parameters())
    # Known pixels do not count: a prediction that is wrong only there has
    # the same losses.
    for sample in data['data_samples']:
        sample.trimap = torch.full_like(sample.trimap, 255)
    losses = model(**data, mode='loss')
    assert losses['loss_alpha'] == 0 and losses['loss_comp'] == 0


def test_pad_and_fill_known():
    x = torch.arange(2 * 5 * 3.).view(1, 2, 5, 3)
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (1, 2, 8, 4)
    torch.testing.assert_close(padded[..., :5, :3], x)
    torch.testing.assert_close(padded[..., 5, :3], x[..., 3, :])  # reflect
    tiny = pad_to_multiple(torch.ones(1, 1, 2, 2), 16)  # pad > size
    assert tiny.shape == (1, 1, 16, 16) and torch.all(tiny == 1)
    alpha = torch.tensor([[-0.5, 0.5, 1.5]])
    trimap = torch.tensor([[128, 0, 255]])
    torch.testing.assert_close(fill_known(alpha, trimap),
                               torch.tensor([[0., 0., 1.]]))


@pytest.mark.parametrize('key', ['carafe', 'indexnet', 'a2u', 'sapa-g'])
def test_every_upsampler_parameter_takes_the_decoder_lr(key):
    model, config = build(key)
    wrapper = build_optim_wrapper(model, config.optim_wrapper)
    lr = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lr[id(p)] = group['lr']
    upsamplers = [m for m in model.modules()
                  if isinstance(m, GuidedUpsampler)]
    assert len(upsamplers) == 4
    params = [p for m in upsamplers for p in m.parameters()]
    assert params and all(lr[id(p)] == 0.01 for p in params)
    assert all(lr[id(p)] == pytest.approx(1e-4)
               for p in model.backbone.parameters())
    assert all(lr[id(p)] == 0.01 for p in model.neck.parameters())
    assert all(lr[id(p)] == 0.01 for p in model.decode_head.pred.parameters())


def test_encoder_init_zeroes_the_trimap_channel_and_loads_resnet(tmp_path):
    model, _ = build('nearest')
    encoder = model.backbone
    encoder.init_weights()
    stem = encoder.conv1.conv.weight
    assert torch.all(stem[:, 3] == 0) and stem[:, :3].abs().sum() > 0
    # A torchvision-named ResNet-34 (the blocks the net keeps, and some it
    # does not have): RGB stem weights, the trimap's at 0.
    state = {
        'conv1.weight': torch.randn(64, 3, 7, 7),
        'bn1.weight': torch.rand(64),
        'layer1.0.conv1.weight': torch.randn(64, 64, 3, 3),
        'layer2.0.bn2.running_var': torch.rand(128),
        'layer2.0.downsample.0.weight': torch.randn(128, 64, 1, 1),
        'layer3.5.conv1.weight': torch.randn(256, 256, 3, 3),
        'fc.weight': torch.randn(1000, 512),
    }
    path = str(tmp_path / 'resnet34.pth')
    torch.save(state, path)
    encoder.init_cfg = dict(type='Pretrained', checkpoint=path)
    encoder.init_weights()
    torch.testing.assert_close(encoder.conv1.conv.weight[:, :3],
                               state['conv1.weight'])
    assert torch.all(encoder.conv1.conv.weight[:, 3] == 0)
    torch.testing.assert_close(encoder.conv1.bn.weight, state['bn1.weight'])
    torch.testing.assert_close(encoder.layer1[0].conv1.conv.weight,
                               state['layer1.0.conv1.weight'])
    torch.testing.assert_close(encoder.layer2[0].conv2.bn.running_var,
                               state['layer2.0.bn2.running_var'])
    torch.testing.assert_close(encoder.layer2[0].downsample.conv.weight,
                               state['layer2.0.downsample.0.weight'])
