"""sapa_mm.tables.bts_nyu: the depth table's columns are DepthMetric's keys,
and SAPA-I, which cannot run in BTS, is refused with the reason."""
import pytest

pytest.importorskip('mmseg')
from mmseg.evaluation import DepthMetric  # noqa: E402

from sapa_mm.tables import get_table  # noqa: E402
from sapa_mm.tables.reproduction import Reproduction  # noqa: E402


def test_columns_are_depth_metric_keys():
    table = get_table('bts-nyu')
    assert [m.key for m in table.metrics] == list(DepthMetric.METRICS[:8])
    assert table.flops_shape == (480, 640)


def test_sapa_i_is_refused_with_the_reason(tmp_path):
    table = get_table('bts-nyu')
    with pytest.raises(ValueError, match='sapa-i does not apply to bts-nyu: '
                       'SAPA-I compares x with the guide channel by channel'):
        table.row('sapa-i')
    with pytest.raises(ValueError, match='sapa-i does not apply'):
        Reproduction('bts-nyu', str(tmp_path), rows=['nearest', 'sapa-i'])
