"""tools/benchmark.py end to end on one shape and two rows."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip('mmseg')
pytest.importorskip('mmdet')


def test_benchmark_writes_its_tables(tmp_path, repo_root):
    """The ratios are to bilinear, and the table, JSON and chart are
    written; the results say that PyTorch's huge-page allocation was on."""
    result = subprocess.run(
        [sys.executable, 'tools/benchmark.py', '--device', 'cpu', '--shapes',
         'odd', '--rows', 'bilinear', 'sapa-b', '--repeats', '1', '--warmup',
         '0', '--threads', '1', '--out-dir', str(tmp_path)],
        cwd=repo_root, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, THP_MEM_ALLOC_ENABLE='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / 'benchmark.json').read_text())
    assert data['env']['threads'] == 1 and data['env']['huge_pages']
    rows = {r['row']: r for r in data['op_level']}
    assert set(rows) == {'bilinear', 'sapa-b'}
    assert rows['bilinear']['forward_backward_ratio'] == 1.0
    for r in rows.values():
        assert r['forward_ms'] > 0 and r['forward_backward_ms'] > 0
        assert r['rss_memory_mb'] > 0
    # Bilinear's tensors at its peak: the output and x's gradient, float32.
    assert rows['bilinear']['peak_memory_mb'] * 2**20 == 4 * 2 * 256 * (
        171 * 128 + 86 * 64)
    assert rows['sapa-b']['peak_memory_ratio'] > 1
    table = (tmp_path / 'benchmark.md').read_text()
    assert '| odd 86x64->171x128 | sapa-b |' in table
    assert 'huge pages (THP_MEM_ALLOC_ENABLE=1)' in table
    assert (tmp_path / 'benchmark.png').stat().st_size > 0


def test_benchmark_onnx_rows(tmp_path, repo_root):
    """--onnx: each row's exported graph timed in ONNX Runtime, with its
    peak RSS growth, as ratios to bilinear's graph (and no op level)."""
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnxscript')
    result = subprocess.run(
        [sys.executable, 'tools/benchmark.py', '--device', 'cpu', '--shapes',
         'odd', '--rows', 'bilinear', 'sapa-b', '--repeats', '1', '--warmup',
         '0', '--threads', '1', '--onnx', '--out-dir', str(tmp_path)],
        cwd=repo_root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / 'benchmark.json').read_text())
    rows = {r['row']: r for r in data['onnx']}
    assert set(rows) == {'bilinear', 'sapa-b'}
    assert rows['bilinear']['ort_forward_ratio'] == 1.0
    assert rows['bilinear']['ort_rss_memory_ratio'] == 1.0
    for r in rows.values():
        assert r['ort_forward_ms'] > 0
        assert r['ort_rss_memory_mb'] > 0
    assert data['op_level'] == []
    table = (tmp_path / 'benchmark.md').read_text()
    assert '| odd 86x64->171x128 | sapa-b |' in table.split(
        'ONNX Runtime forward')[1]
