"""The paper's tables as data (sapa_mm.tables): every row has its config,
the config sets the row's upsampler, the README's tables agree with the
data, and the measured Params (and SegFormer's FLOPs) equal the paper's at
its precision except in the columns a row's deviations name (and there
they differ)."""
import os
import re
from glob import glob

import pytest

pytest.importorskip('mmseg')
pytest.importorskip('mmdet')
from mmengine.config import Config

from sapa_mm.analysis import format_cell, model_complexity
from sapa_mm.datasets import MINI_DATASETS
from sapa_mm.models.upsamplers.builder import RESIZE_MODES
from sapa_mm.tables import ROOT, TABLES, Row, Table, get_table

ROWS = [(table.name, row.key) for table in TABLES.values()
        for row in table.rows]


def upsample_cfgs(node):
    """Every ``upsample_cfg`` in a config's model, wherever it is nested."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'upsample_cfg':
                yield dict(value)
            else:
                yield from upsample_cfgs(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from upsample_cfgs(value)


def test_each_config_folder_holds_exactly_its_tables_rows():
    by_folder = {}
    for table in TABLES.values():
        for row in table.rows:
            path = table.config_path(row.key)
            by_folder.setdefault(os.path.dirname(path), set()).add(path)
    for folder, paths in by_folder.items():
        assert set(glob(os.path.join(folder, '*.py'))) == paths, folder


@pytest.mark.parametrize('table, key', ROWS)
def test_config_sets_the_rows_upsampler(table, key):
    table = get_table(table)
    row = table.row(key)
    config = Config.fromfile(table.config_path(key))
    cfgs = list(upsample_cfgs(config.model.to_dict()))
    if not cfgs:
        # The upstream config unchanged: only a baseline's fixed resize.
        assert key == table.rows[0].key, table.config_path(key)
        assert row.upsampler['type'] in RESIZE_MODES
        return
    # The row's upsampler is the type (and any settings it names); the
    # config may add the upsampler's other settings.
    for cfg in cfgs:
        assert {k: cfg.get(k) for k in row.upsampler} == row.upsampler


def test_rows_are_consistent_across_tables():
    seen = {}
    for table in TABLES.values():
        assert table.dataset in MINI_DATASETS, table.name
        assert len(table.rows) >= 2 and table.rows[0].paper_params
        for row in table.rows:
            assert seen.setdefault(row.key, (row.label, row.upsampler)) == \
                (row.label, row.upsampler), (table.name, row.key)
            assert row.paper is None or len(row.paper) == len(table.metrics)


def test_table_lookup_errors():
    with pytest.raises(ValueError, match='unknown table'):
        get_table('nope')
    with pytest.raises(ValueError, match="unknown row 'nope'"):
        TABLES['segformer-ade20k'].row('nope')
    with pytest.raises(ValueError, match='deviations name unknown'):
        Table('t', 't', '{}', (), (Row('a', 'A', {}, (), None, '1',
                                       deviations=dict(AP='x')), ),
              (1, 1), ((1, 1), (1, 1)), 'ade20k')
    table = Table('t', 't', '{}', (), (Row('a', 'A', {}, (), None, '1'), ),
                  (1, 1), ((1, 1), (1, 1)), 'ade20k',
                  inapplicable={'b': 'widths differ'})
    with pytest.raises(ValueError, match='b does not apply to t: widths'):
        table.row('b')
    with pytest.raises(ValueError, match='paper values'):
        Table('t', 't', '{}', (), (Row('a', 'A', {}, (1.0, ), None, '1'), ),
              (1, 1), ((1, 1), (1, 1)), 'ade20k')


def readme_tables():
    """(header cells, row cells) of every README table row that links a
    config."""
    with open(os.path.join(ROOT, 'README.md')) as f:
        lines = f.read().splitlines()
    header = None
    for line in lines:
        if not line.startswith('|'):
            header = None
            continue
        cells = [c.strip() for c in line.strip('|').split('|')]
        if header is None:
            header = cells
        elif '](configs/' in line:
            yield header, cells


def _config_of(cells):
    for cell in cells:
        match = re.search(r'\]\((configs/[^)]+)\)', cell)
        if match:
            return os.path.join(ROOT, match[1])
    return None


def test_readme_tables_agree_with_the_data():
    by_config = {table.config_path(row.key): (table, row)
                 for table in TABLES.values() for row in table.rows}
    compared = set()
    for header, cells in readme_tables():
        config = _config_of(cells)
        assert config in by_config, f'README links an unknown row: {config}'
        table, row = by_config[config]
        assert cells[0] == row.label, config
        paper = dict(zip((m.name for m in table.metrics),
                         row.paper or (None, ) * len(table.metrics)))
        for name, cell in zip(header, cells):
            if not name.endswith(', paper'):
                continue
            column = name[:-len(', paper')]
            if column == 'FLOPs (G)':
                assert cell == (row.paper_flops or '-'), (config, column)
            elif column == 'Params (M)':
                assert cell == (row.paper_params or '-'), (config, column)
            else:
                assert column in paper, (config, column)
                value = paper[column]
                assert cell == ('-' if value is None else cell), config
                assert value is None or float(cell) == value, (config, column)
        compared.add(config)
    # Every row of every table is in the README.
    assert compared == set(by_config)


def _digits(printed: str) -> int:
    return len(printed.split('.')[1]) if '.' in printed else 0


@pytest.mark.parametrize('table', list(TABLES))
def test_params_equal_the_papers(table):
    """Params at the paper's printed precision, derived from the configs'
    models."""
    table = get_table(table)
    results = [model_complexity(Config.fromfile(table.config_path(r.key)),
                                table.flops_shape, with_flops=False)
               for r in table.rows]
    base = results[0]['params']
    for i, (row, result) in enumerate(zip(table.rows, results)):
        if row.paper_params is None:  # a row the paper does not have
            continue
        # A row the paper prints without a sign is absolute (the matting
        # table's Bilinear 8.05 beside Nearest's).
        absolute = i == 0 or not row.paper_params.startswith('+')
        measured = format_cell(result['params'], base, 1e6,
                               _digits(row.paper_params), absolute)
        if 'Params' in row.deviations:
            assert measured != row.paper_params, (
                f'{row.key} agrees with the paper: drop its deviation')
        else:
            assert measured == row.paper_params, (row.key, measured)


def test_segformer_flops_equal_the_papers():
    table = get_table('segformer-ade20k')
    results = [model_complexity(Config.fromfile(table.config_path(r.key)),
                                table.flops_shape) for r in table.rows]
    base = results[0]['flops']
    for i, (row, result) in enumerate(zip(table.rows, results)):
        measured = format_cell(result['flops'], base, 1e9,
                               _digits(row.paper_flops), i == 0)
        if 'FLOPs' in row.deviations:
            assert measured != row.paper_flops, (row.key, measured)
        else:
            assert measured == row.paper_flops, (row.key, measured)
