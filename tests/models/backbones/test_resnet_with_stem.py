"""sapa_mm.models.backbones.resnet_with_stem: mmseg's ResNet with the stem
tap, BTS's encoder features, torchvision's parameter names."""
import pytest
import torch

pytest.importorskip('mmseg')
from mmseg.models.backbones import ResNet  # noqa: E402

from sapa_mm.models import ResNetWithStem  # noqa: E402


def test_outputs_start_with_the_stem_and_match_resnet():
    torch.manual_seed(0)
    net = ResNetWithStem(depth=18, out_indices=(0, 1, 2, 3))
    ref = ResNet(depth=18, out_indices=(0, 1, 2, 3))
    ref.load_state_dict(net.state_dict())
    net.eval()  # mmseg's ResNet.train returns None: no chaining
    ref.eval()
    x = torch.randn(1, 3, 67, 45)
    with torch.no_grad():
        outs = net(x)
        expected = ref(x)
        stem = net.relu(net.norm1(net.conv1(x)))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (64, 34, 23), (64, 17, 12), (128, 9, 6), (256, 5, 3), (512, 3, 2)]
    torch.testing.assert_close(outs[0], stem)
    for a, b in zip(outs[1:], expected):
        torch.testing.assert_close(a, b)


def test_resnet50_has_torchvisions_parameters_without_the_fc():
    net = ResNetWithStem(depth=50)
    names = dict(net.named_parameters())
    # torchvision's names, so torchvision://resnet50 loads by name
    assert {'conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight',
            'layer1.0.downsample.0.weight', 'layer4.2.bn3.bias'} <= set(names)
    # torchvision's ResNet-50 has 25,557,032 with its 2048 x 1000 + 1000 fc
    assert sum(p.numel() for p in names.values()) == 25_557_032 - 2_049_000
