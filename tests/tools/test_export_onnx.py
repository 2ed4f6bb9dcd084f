"""tools/deploy/export_onnx.py end to end on small inputs, from the
configs (no pretrained weights: the models are built without
``init_weights``): SegFormer-B1 with SAPA-B to its logits, Faster R-CNN with
SAPA-B through backbone and neck, BTS with SAPA-B to its depth and A2U
matting with SAPA-B to its alpha."""
import onnx
import pytest

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')
pytest.importorskip('mmseg')
pytest.importorskip('mmdet')

from sapa_mm.deploy import check_standard_onnx  # noqa: E402

SEGFORMER = ('configs/segformer/'
             'segformer_mit-b1-sapa-b_8xb2-160k_ade20k-512x512.py')
FASTER_RCNN = ('configs/faster_rcnn/'
               'faster-rcnn_r50_guided-fpn-sapa-b_1x_coco.py')
BTS = 'configs/bts/bts_r50-sapa-b_4xb4-50e_nyu-416x544.py'
MATTING = 'configs/a2u_matting/a2u-matting_r34-sapa-b_1xb16-180k_comp1k.py'


@pytest.mark.parametrize('config, shape, options, outputs', [
    pytest.param(SEGFORMER, (67, 83), ['--dynamic', '--batch', '2'], 1,
                 id='segformer-b1-sapa-b'),
    pytest.param(FASTER_RCNN, (64, 96), [], 5, id='faster-rcnn-sapa-b'),
    pytest.param(BTS, (45, 61), [], 1, id='bts-sapa-b'),
    pytest.param(MATTING, (48, 64), [], 1, id='a2u-matting-sapa-b'),
])
def test_export_onnx(config, shape, options, outputs, repo_root, run_tool,
                     tmp_path):
    out = tmp_path / 'model.onnx'
    log = run_tool('tools/deploy/export_onnx.py', config, '--shape',
                   *map(str, shape), '--out', str(out), '--repeats', '1',
                   *options)
    model = onnx.load(str(out))
    check_standard_onnx(model)
    assert len(model.graph.output) == outputs
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dynamic = [d.HasField('dim_param') for d in dims]
    assert dynamic == ([True, False, True, True] if options else
                       [False] * 4), dims
    line = next(line for line in log.splitlines()
                if line.startswith('max abs diff'))
    diff, ref = (float(v) for v in
                 line.split(': ')[1].replace('(outputs up to ', '')
                 .rstrip(')').split())
    assert ref > 0
    assert diff <= 1e-3 * max(ref, 1.0), line
    assert 'time per image: ONNX Runtime' in log
