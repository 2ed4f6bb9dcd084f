"""Export a config's model to ONNX and check it in ONNX Runtime.

    python tools/deploy/export_onnx.py CONFIG [CHECKPOINT] --shape H W
        [--batch 1] [--dynamic] [--out FILE] [--repeats 5]

What is exported (the input is the normalised image batch, after the
config's data preprocessor):

* mmseg segmentors: the logits of ``model(inputs, mode='tensor')``, the
  decode head's output (1/4 of the input size for SegFormer); MaskFormer and
  Mask2Former heads, whose forward takes the data samples, give their
  ``predict`` logits at the input size (the image metas are constants);
* the depth estimator (BTS) likewise: its depth map; the matting model
  (``GuidedMattor``): its raw alpha of a (B, 4, H, W) RGB and trimap batch
  (H and W multiples of 16, as its ``predict`` pads them);
* mmdet detectors: backbone and neck, ``model.extract_feat(inputs)``, the
  feature pyramid where the guided upsamplers live. The RPN and RoI heads
  run mmcv's RoIAlign and NMS, which are compiled mmcv ops that
  ``torch.export`` cannot trace (see docs/deploy.md).

``--dynamic`` makes the batch and spatial axes dynamic (``Dim.AUTO``: the
exporter keeps an axis static where the model fixes it, and an axis of size
1, so a dynamic batch needs ``--batch 2`` or more). The file is
checked to hold standard ONNX operators only, run in ONNX Runtime (CPU) on
a random input, and compared with PyTorch: the maximum absolute difference
over the outputs and the time per image of both are printed.
"""
import argparse
import inspect
import os
import os.path as osp
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from torch import nn

import sapa_mm  # noqa: F401  (the upsamplers and their ONNX translations)
from sapa_mm.analysis.complexity import build_model
from sapa_mm.deploy import export_onnx


class SegmentorLogits(nn.Module):
    """An mmseg segmentor (or the depth or matting model) as the output of
    a (B, C, H, W) batch: its
    ``mode='tensor'`` output, the decode head's. Heads whose forward needs
    the data samples (MaskFormer, Mask2Former) give their ``predict``
    logits instead, at the input size, for images of ``shape`` (the image
    metas are constants of the graph)."""

    def __init__(self, model: nn.Module, shape: Tuple[int, int],
                 batch: int) -> None:
        super().__init__()
        self.model = model
        head = model.decode_head
        self.needs_samples = 'batch_data_samples' in inspect.signature(
            head.forward).parameters
        meta = dict(img_shape=shape, pad_shape=shape, ori_shape=shape,
                    batch_input_shape=shape)
        self.metas = [dict(meta) for _ in range(batch)]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.needs_samples:
            return self.model(inputs, None, mode='tensor')
        feats = self.model.extract_feat(inputs)
        return self.model.decode_head.predict(feats, self.metas,
                                              self.model.test_cfg)


class DetectorFeatures(nn.Module):
    """An mmdet detector's backbone and neck: the feature pyramid of a
    (B, 3, H, W) batch."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(self.model.extract_feat(inputs))


def exportable(config: Config, model: nn.Module, shape: Tuple[int, int],
               batch: int) -> nn.Module:
    """The tensor-in, tensors-out part of ``model`` that is exported, for
    (batch, C, H, W) inputs of (H, W) ``shape``."""
    scope = config.get('default_scope')
    if scope == 'mmseg':
        return SegmentorLogits(model, shape, batch).eval()
    if scope == 'mmdet':
        return DetectorFeatures(model).eval()
    raise ValueError(f'export_onnx: default_scope must be mmseg or mmdet, '
                     f'got {scope!r} in the config')


def _outputs(result) -> Sequence[torch.Tensor]:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _time_per_image(run, batch: int, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / batch


def export_and_check(config_path: str,
                     checkpoint: Optional[str],
                     shape: Tuple[int, int],
                     out: str,
                     batch: int = 1,
                     dynamic: bool = False,
                     repeats: int = 5) -> Dict[str, float]:
    """Exports the model of ``config_path`` (weights from ``checkpoint``,
    or the initialisation) for a (batch, C, H, W) input to ``out`` (C the
    model's ``input_channels``, 3 by default), runs it in ONNX Runtime and
    compares with PyTorch.

    Returns:
        dict(max_abs_diff, max_abs_ref, ort_s_per_image,
        torch_s_per_image).
    """
    import onnxruntime as ort
    config = Config.fromfile(config_path)
    model = build_model(config)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    module = exportable(config, model, shape, batch)
    torch.manual_seed(0)
    channels = getattr(model, 'input_channels', 3)
    inputs = torch.randn(batch, channels, *shape)
    dynamic_shapes = None
    if dynamic:
        dim = torch.export.Dim.AUTO
        dynamic_shapes = ({0: dim, 2: dim, 3: dim}, )
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with torch.no_grad():
        export_onnx(module, (inputs, ), out, dynamic_shapes=dynamic_shapes,
                    verbose=False)
        expected = _outputs(module(inputs))
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    feed = {session.get_inputs()[0].name: inputs.numpy()}
    actual = session.run(None, feed)
    if len(actual) != len(expected):
        raise RuntimeError(f'the ONNX graph has {len(actual)} outputs, '
                           f'PyTorch {len(expected)}')
    diff = max(float(np.abs(a - e.numpy()).max())
               for a, e in zip(actual, expected))
    ref = max(float(e.abs().max()) for e in expected)

    def run_torch():
        with torch.no_grad():
            module(inputs)

    return dict(
        max_abs_diff=diff,
        max_abs_ref=ref,
        ort_s_per_image=_time_per_image(lambda: session.run(None, feed),
                                        batch, repeats),
        torch_s_per_image=_time_per_image(run_torch, batch, repeats))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a config\'s model to ONNX, run it in ONNX '
        'Runtime and compare with PyTorch.')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None)
    parser.add_argument('--shape', type=int, nargs=2, required=True,
                        metavar=('H', 'W'), help='input image size')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch (with --batch >= 2) and spatial '
                        'axes')
    parser.add_argument('--out', default=None,
                        help='the .onnx file (default: work_dirs/onnx/'
                        '<config name>.onnx)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed runs of each (median)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    out = args.out or osp.join(
        'work_dirs', 'onnx',
        osp.splitext(osp.basename(args.config))[0] + '.onnx')
    result = export_and_check(args.config, args.checkpoint,
                              tuple(args.shape), out, args.batch,
                              args.dynamic, args.repeats)
    print(f'exported {out} ({osp.getsize(out) / 2**20:.1f} MiB): standard '
          f'ONNX operators only')
    print(f'max abs diff ONNX Runtime vs PyTorch: '
          f'{result["max_abs_diff"]:.3g} (outputs up to '
          f'{result["max_abs_ref"]:.3g})')
    print(f'time per image: ONNX Runtime '
          f'{result["ort_s_per_image"] * 1e3:.1f} ms, PyTorch '
          f'{result["torch_s_per_image"] * 1e3:.1f} ms')


if __name__ == '__main__':
    main()
