"""Mini datasets: small synthetic scenes written in the real on-disk formats
(one writer per task), so that the upstream dataset classes load them
unchanged and every config runs on them by pointing ``data_root`` there.

Each writer is ``make_<name>(root, num_train, num_val, seed) -> data_root``;
:data:`MINI_DATASETS` names them for ``tools/make_mini_data.py`` and the
tables (:attr:`sapa_mm.tables.Table.dataset`).

Beside them, :mod:`.comp1k_dataset` is the Composition-1K dataset the
matting configs read and :mod:`.transforms` the data transforms of the depth
and matting configs (mmseg's registries; imported by ``import sapa_mm``).
"""
from typing import Callable, Dict

from .ade20k import make_ade20k
from .coco import make_coco
from .comp1k import make_comp1k
from .nyu import make_nyu

#: The mini-dataset writers by name.
MINI_DATASETS: Dict[str, Callable[..., str]] = {
    'ade20k': make_ade20k,
    'coco': make_coco,
    'comp1k': make_comp1k,
    'nyu': make_nyu,
}

__all__ = ['MINI_DATASETS', 'make_ade20k', 'make_coco', 'make_comp1k',
           'make_nyu']
