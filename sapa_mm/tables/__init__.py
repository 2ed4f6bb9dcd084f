"""The paper's tables as data (one module each) and their reproduction.

Adding a table means adding its module here and its configs. The tools
(``tools/reproduce.py``, ``tools/analysis/get_flops.py --table``,
``tools/benchmark.py``) and the tests read the tables from :data:`TABLES`.
"""
from typing import Dict

from . import (
    a2u_matting_comp1k,
    bts_nyu,
    faster_rcnn_coco,
    mask2former_ade20k,
    maskformer_ade20k,
    segformer_ade20k,
)
from .table import ROOT, Metric, Row, Table

#: Every table, by name, in the paper's order.
TABLES: Dict[str, Table] = {
    module.TABLE.name: module.TABLE
    for module in (segformer_ade20k, maskformer_ade20k, mask2former_ade20k,
                   a2u_matting_comp1k, bts_nyu, faster_rcnn_coco)
}


def get_table(name: str) -> Table:
    """The table called ``name``; a ValueError lists the names."""
    if name not in TABLES:
        raise ValueError(f'unknown table {name!r}; tables are '
                         f'{list(TABLES)}')
    return TABLES[name]


__all__ = ['ROOT', 'TABLES', 'Metric', 'Row', 'Table', 'get_table']
