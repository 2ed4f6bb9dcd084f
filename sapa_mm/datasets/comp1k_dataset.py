"""Adobe Composition-1K as mmagic's preprocessing lays it out, registered
in mmseg's ``DATASETS`` (the scope of the matting configs)."""
import os.path as osp
from typing import List

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.fileio import load
from mmseg.registry import DATASETS

#: The keys of an annotation entry that name files.
PATH_KEYS = ('alpha_path', 'fg_path', 'bg_path', 'merged_path',
             'trimap_path')


@DATASETS.register_module()
class Comp1kDataset(BaseDataset):
    """Composition-1K from ``training_list.json`` / ``test_list.json``.

    Each entry of the annotation file (a list, or a dict with a
    'data_list') is a dict of paths relative to ``data_root``:
    ``alpha_path``, ``fg_path``, ``bg_path`` and, where present,
    ``merged_path`` and ``trimap_path`` (the test set's); they are made
    absolute. The pipeline reads the files.

    In training (``test_mode=False``) each item also names another
    training foreground, ``other_alpha_path`` and ``other_fg_path`` (drawn
    at random), for the two-foreground mixing of
    :class:`~sapa_mm.datasets.transforms.MixForegrounds`.

    Args:
        ann_file, data_root, pipeline, test_mode, ...: as in mmengine's
            ``BaseDataset``.
    """

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if not self.test_mode and len(self) > 1:
            other = np.random.randint(len(self) - 1)
            other = super().get_data_info(other + (other >= idx))
            info['other_alpha_path'] = other['alpha_path']
            info['other_fg_path'] = other['fg_path']
        return info

    def load_data_list(self) -> List[dict]:
        entries = load(self.ann_file)
        if isinstance(entries, dict):
            entries = entries.get('data_list', [])
        if not isinstance(entries, list):
            raise TypeError(f'Comp1kDataset: {self.ann_file} must hold a '
                            f'list of entries, got {type(entries).__name__}')
        data_list = []
        for i, entry in enumerate(entries):
            if 'alpha_path' not in entry:
                raise ValueError(f'Comp1kDataset: entry {i} of '
                                 f'{self.ann_file} has no alpha_path: '
                                 f'{entry}')
            info = dict(entry)
            for key in PATH_KEYS:
                if key in info:
                    info[key] = osp.join(self.data_root, info[key])
            data_list.append(info)
        return data_list
