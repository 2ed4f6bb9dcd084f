"""Deployment: ONNX export of the sapa-mm upsamplers and of the models
that use them.

Importing this package (``import sapa_mm`` does, where ONNX Script is
installed: ``pip install sapa-mm[deploy]``) registers an ONNX translation
of each ``sapa_mm`` inference op (:mod:`.translations`), so that a plain
``torch.onnx.export(model, args, f, dynamo=True)`` gives standard ONNX
operators only. :func:`export_onnx` does the same export and also checks
the model beforehand (ops without a translation, named) and the graph
afterwards (default domain, opset 17-20).
"""
from importlib.util import find_spec

if find_spec('onnxscript') is None or find_spec('onnx') is None:
    raise ImportError(
        'sapa_mm.deploy needs onnx and onnxscript (and onnxruntime to run '
        'the graphs): pip install "sapa-mm[deploy]" or pip install -r '
        'requirements/deploy.txt')

from .export import (  # noqa: E402
    OPSETS,
    check_standard_onnx,
    export_onnx,
    untranslated_ops,
)
from .translations import TRANSLATIONS  # noqa: E402

__all__ = [
    'OPSETS', 'TRANSLATIONS', 'check_standard_onnx', 'export_onnx',
    'untranslated_ops'
]
