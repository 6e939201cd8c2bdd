"""A short fuzz run of every target: nothing but RpkitError may escape rpkit.

The full run (a million inputs on two processes) is ``benchmarks/fuzz.py``; this one
spends ``--fuzz-seconds`` (default 60) in this process, shared by the targets.
"""

from __future__ import annotations

import pytest

from .runner import run_for_seconds
from .targets import TARGETS


def test_nothing_but_rpkit_errors_escape(request: pytest.FixtureRequest) -> None:
    """Mutated signed tokens, SAML responses, SCIM bodies and rosters raise only RpkitError."""
    seconds = float(request.config.getoption("--fuzz-seconds"))
    results = run_for_seconds(TARGETS, seconds)
    for result in results.values():
        assert result.inputs > 0, f"{result.name} fed no input"
    escapes = {
        f"{name}: {key}": f"{e.count} x {e.message} | example {e.example}"
        for name, result in results.items()
        for key, e in result.escapes.items()
    }
    assert not escapes, escapes
