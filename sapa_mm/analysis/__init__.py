"""FLOPs and parameters with the SAPA paper's accounting."""
from .complexity import (
                         count_flops,
                         count_parameters,
                         format_cell,
                         format_table,
                         model_complexity,
)

__all__ = [
    'count_flops', 'count_parameters', 'format_cell', 'format_table',
    'model_complexity'
]
