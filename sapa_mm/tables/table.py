"""What a table of the paper is, as data: its rows, columns, the paper's
numbers and where FLOPs are counted. One module per table beside this one
holds its data; :mod:`sapa_mm.tables` collects them."""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

#: The measured columns beside the metrics.
COMPLEXITY_COLUMNS = ('FLOPs', 'Params')
#: The repository root, against which configs are named.
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@dataclass(frozen=True)
class Metric:
    """A metric column.

    Args:
        name: the column's name, e.g. 'mIoU'.
        key: the evaluator's key in the metrics dict ``runner.test()``
            returns, e.g. 'coco/bbox_mAP'.
        scale: factor from the evaluator's value to the paper's unit.
        digits: decimals as the paper prints the column.
    """
    name: str
    key: str
    scale: float = 1.0
    digits: int = 2


@dataclass(frozen=True)
class Row:
    """A row: one upsampler in the table's model.

    Args:
        key: the row's name on the command line and in config names, e.g.
            'sapa-b'.
        label: the row's name in the paper, e.g. 'SAPA-B'.
        upsampler: the ``upsample_cfg`` the row's config sets.
        paper: the paper's value of each metric column, as printed; None
            for a row the paper does not have (e.g. an extra baseline).
        paper_flops: the paper's FLOPs (G) as printed: absolute for the
            baseline, '+x' deltas after; None where the paper gives none.
        paper_params: the paper's Params (M), as printed likewise (a row
            printed without a sign is absolute, e.g. the matting table's
            Bilinear); None where the paper has no such row.
        deviations: the columns ('FLOPs', 'Params') whose measured value
            differs from the paper's at its precision, each with the reason;
            every other column agrees (the tests check both).
    """
    key: str
    label: str
    upsampler: dict
    paper: Optional[Tuple[float, ...]]
    paper_flops: Optional[str]
    paper_params: Optional[str]
    deviations: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """One table of the paper.

    Args:
        name: the table's name on the command line, e.g. 'segformer-ade20k'.
        title: what the table shows.
        config: the configs' path from the repository root, with '{}' for
            the row key.
        metrics: the metric columns.
        rows: the rows, the baseline first (the deltas are against it).
        flops_shape: the (H, W) input at which FLOPs are counted.
        upsampling_shape: a typical upsampling step of the model,
            ((h, w), (H, W)) of x and guide, for the benchmark.
        dataset: the name in :data:`sapa_mm.datasets.MINI_DATASETS` of the
            mini-data writer whose format the table's configs read
            ('ade20k', 'coco').
        inapplicable: upsamplers (row keys) that cannot run in this model,
            each with the reason; asking for one is a ValueError that says
            it.
    """
    name: str
    title: str
    config: str
    metrics: Tuple[Metric, ...]
    rows: Tuple[Row, ...]
    flops_shape: Tuple[int, int]
    upsampling_shape: Tuple[Tuple[int, int], Tuple[int, int]]
    dataset: str
    inapplicable: Dict[str, str] = field(default_factory=dict)
    _by_key: Dict[str, Row] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, '_by_key', {r.key: r for r in self.rows})
        if len(self._by_key) != len(self.rows):
            raise ValueError(f'{self.name}: row keys must be unique')
        for row in self.rows:
            if row.paper is not None and len(row.paper) != len(self.metrics):
                raise ValueError(
                    f'{self.name}/{row.key}: {len(row.paper)} paper values '
                    f'for {len(self.metrics)} metrics')
            unknown = set(row.deviations) - set(COMPLEXITY_COLUMNS)
            if unknown:
                raise ValueError(
                    f'{self.name}/{row.key}: deviations name unknown columns '
                    f'{sorted(unknown)}; columns are {COMPLEXITY_COLUMNS}')

    @property
    def keys(self) -> Tuple[str, ...]:
        """The row keys, in the table's order."""
        return tuple(self._by_key)

    def row(self, key: str) -> Row:
        """The row named ``key``."""
        if key in self.inapplicable:
            raise ValueError(f'{key} does not apply to {self.name}: '
                             f'{self.inapplicable[key]}')
        if key not in self._by_key:
            raise ValueError(f'unknown row {key!r} of {self.name}; rows are '
                             f'{list(self._by_key)}')
        return self._by_key[key]

    def config_path(self, key: str, root: str = ROOT) -> str:
        """The row's config file."""
        self.row(key)
        return osp.join(root, self.config.format(key))
