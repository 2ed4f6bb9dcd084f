"""tools/analysis/get_flops.py --table: the table's rows beside the paper's
Params, and the traced input with the models' own channels (RGB and trimap
for the matting network)."""
import pytest

pytest.importorskip('mmseg')


def test_get_flops_table_names_the_input_channels(run_tool):
    out = run_tool('tools/analysis/get_flops.py', '--table',
                   'a2u-matting-comp1k', '--rows', 'nearest', 'sapa-i',
                   '--params-only')
    assert 'input shape: (4, 512, 512)\n' in out
    assert '| Nearest | - | - | 8.05 | 8.05 |' in out
    assert '| SAPA-I | - | - | +0 | +0.00 |' in out
