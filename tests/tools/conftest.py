"""Fixtures of the tools' end-to-end tests."""
import subprocess
import sys

import pytest


@pytest.fixture(scope='session')
def run_tool(repo_root):
    """run_tool(*args, **kwargs): ``python *args`` from the repository root;
    asserts it succeeds and returns its stdout and stderr."""

    def run_tool(*args, **kwargs):
        result = subprocess.run([sys.executable, *args], cwd=repo_root,
                                capture_output=True, text=True, timeout=900,
                                **kwargs)
        assert result.returncode == 0, result.stdout[-3000:] + \
            result.stderr[-3000:]
        return result.stdout + result.stderr

    return run_tool
