"""Fixtures of the mini dataset tests."""
import filecmp
import os
import os.path as osp

import pytest


@pytest.fixture(scope='session')
def assert_same_files():
    """assert_same_files(a, b, subdirs): each subdir of a holds the files of
    b's, byte for byte."""

    def assert_same_files(a, b, subdirs):
        for sub in subdirs:
            names = sorted(os.listdir(osp.join(a, sub)))
            assert names == sorted(os.listdir(osp.join(b, sub)))
            match, mismatch, errors = filecmp.cmpfiles(
                osp.join(a, sub), osp.join(b, sub), names, shallow=False)
            assert not mismatch and not errors

    return assert_same_files
