"""sapa_mm.engine.upstream_warnings: the upstream warnings the tools leave
out, and only those, from upstream only."""
import warnings

import pytest

pytest.importorskip('mmengine')
from sapa_mm.engine.upstream_warnings import (  # noqa: E402
    UPSTREAM_WARNINGS,
    quiet_upstream_warnings,
)


def test_quiet_upstream_warnings_only_those_from_upstream():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        quiet_upstream_warnings()
        for message, _ in UPSTREAM_WARNINGS:
            text = message.replace('\\', '') + ' (the rest of it)'
            warnings.warn_explicit(text, UserWarning, 'loss.py', 1,
                                   module='mmseg.models.losses.x')
            warnings.warn_explicit(text, UserWarning, 'ours.py', 1,
                                   module='sapa_mm.models.x')
        warnings.warn_explicit('another mmseg warning', UserWarning,
                               'loss.py', 2, module='mmseg.models.losses.x')
    assert sorted(str(w.message)[:7] for w in caught) == sorted(
        ['another'] + [m.replace('\\', '')[:7] for m, _ in UPSTREAM_WARNINGS])
    assert all(w.filename != 'loss.py' or 'another' in str(w.message)
               for w in caught)
