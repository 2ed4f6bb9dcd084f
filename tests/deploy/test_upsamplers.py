"""Every guided upsampler exported with a plain dynamo export after
``import sapa_mm``: default-domain nodes only, and ONNX Runtime matches
PyTorch at odd sizes and non-integer ratios, in float32 and float16, with
the batch and (where the module allows) the spatial axes dynamic."""
from importlib.util import find_spec

import pytest
import torch

pytest.importorskip('onnxscript')
pytest.importorskip('onnxruntime')
pytest.importorskip('mmengine')

from sapa_mm.deploy import check_standard_onnx  # noqa: E402
from sapa_mm.models import build_guided_upsampler  # noqa: E402

needs_mmcv = pytest.mark.skipif(find_spec('mmcv') is None,
                                reason='GuidedCARAFE needs mmcv')
C, CG = 8, 16

#: cfg, guide channels, and the (x, guide) size pairs it takes
#: (non-integer ratios where it maps any ratio).
UPSAMPLERS = {
    'SAPA-I': (dict(type='SAPA-I', kernel_size=3), C, [((5, 6), (11, 13)),
                                                        ((6, 5), (12, 10))]),
    'SAPA-B': (dict(type='SAPA-B', embedding_dim=4), CG,
               [((5, 6), (11, 13)), ((6, 5), (12, 10))]),
    'SAPA-G': (dict(type='SAPA-G', embedding_dim=4), CG,
               [((5, 6), (11, 13)), ((6, 5), (12, 10))]),
    'GuidedCARAFE': (dict(type='GuidedCARAFE', compressed_channels=4), CG,
                     [((6, 7), (11, 13)), ((5, 5), (10, 10))]),
    'IndexNet': (dict(type='IndexNet'), CG, [((6, 7), (11, 13)),
                                             ((5, 5), (10, 10))]),
    'A2U': (dict(type='A2U', norm_groups=4), CG, [((6, 7), (11, 13)),
                                                  ((5, 5), (10, 10))]),
    'nearest': (dict(type='nearest'), CG, [((5, 6), (11, 13)),
                                           ((6, 5), (12, 10))]),
    'bilinear': (dict(type='bilinear'), CG, [((5, 6), (11, 13)),
                                             ((6, 5), (12, 10))]),
}


#: A2U's per-image kernels are grouped convolutions with B * Cg groups (an
#: ONNX attribute) and its k x k adaptive pooling is exported for the
#: traced size: its graphs are exported per batch size and input size.
STATIC = ('A2U', )


def params(names=tuple(UPSAMPLERS)):
    return [
        pytest.param(name, id=name,
                     marks=[needs_mmcv] if name == 'GuidedCARAFE' else [])
        for name in names
    ]


def build(name):
    cfg, guide_channels, sizes = UPSAMPLERS[name]
    torch.manual_seed(0)
    module = build_guided_upsampler(cfg, C, guide_channels).eval()
    # Trained-like statistics, so that BatchNorm's eval path matters.
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    return module, guide_channels, sizes


def inputs(batch, guide_channels, size, seed=1):
    (h, w), (H, W) = size
    torch.manual_seed(seed)
    return (torch.randn(batch, C, h, w),
            torch.randn(batch, guide_channels, H, W))


def check_matches(program, module, x, guide, run_onnx):
    with torch.no_grad():
        expected = module(x, guide)
    out, = run_onnx(program, x, guide)
    torch.testing.assert_close(torch.from_numpy(out), expected, rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize('name', params())
def test_export_matches_pytorch(name, run_onnx):
    module, guide_channels, sizes = build(name)
    for size in sizes:
        x, guide = inputs(2, guide_channels, size)
        program = torch.onnx.export(module, (x, guide), dynamo=True,
                                    verbose=False)
        check_standard_onnx(program.model_proto)
        check_matches(program, module, x, guide, run_onnx)


DYNAMIC = [name for name in UPSAMPLERS if name not in STATIC]


@pytest.mark.parametrize('name', params(DYNAMIC))
def test_dynamic_axes(name, run_onnx):
    """Exported once at batch 2 and the first size pair with the batch and
    spatial axes dynamic, run at other batches and at the second size pair
    (another ratio for the modules that map any ratio)."""
    module, guide_channels, sizes = build(name)
    dim = torch.export.Dim.AUTO
    axes = {0: dim, 2: dim, 3: dim}
    program = torch.onnx.export(
        module, inputs(2, guide_channels, sizes[0]), dynamo=True,
        verbose=False, dynamic_shapes=(axes, axes))
    for i in program.model_proto.graph.input:
        dims = i.type.tensor_type.shape.dim
        assert [d.HasField('dim_param') for d in dims] == [
            True, False, True, True], dims
    for batch, size in [(1, sizes[1]), (3, sizes[0])]:
        check_matches(program, module,
                      *inputs(batch, guide_channels, size, seed=batch),
                      run_onnx)


@pytest.mark.parametrize('name', params())
def test_float16(name, run_onnx):
    """The module in float16, exported and run in float16 (ONNX Runtime's
    CPU provider has every op of these graphs in float16)."""
    module, guide_channels, sizes = build(name)
    module = module.half()
    x, guide = (t.half() for t in inputs(2, guide_channels, sizes[0]))
    program = torch.onnx.export(module, (x, guide), dynamo=True,
                                verbose=False)
    check_standard_onnx(program.model_proto)
    out, = run_onnx(program, x, guide)
    assert out.dtype.name == 'float16'
    with torch.no_grad():
        expected = module(x, guide)
    torch.testing.assert_close(torch.from_numpy(out), expected, rtol=1e-2,
                               atol=1e-2)
