"""The crew sync benchmark runs (tiny counts), so it cannot rot between full runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_crew_sync_benchmark_smoke_run() -> None:
    """A tiny run syncs, verifies the outcome and prints every figure the full run prints
    (tests/dx/test_benchmarks.py only checks that it exits 0)."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "crew_sync.py"),
            "--small",  # the same as --quick: 12 creates, 4 updates, 5 ms
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "workers 1 vs 8" in out
    lines = out.splitlines()
    rows = [line.split() for line in lines if line.split()[:1] in (["1"], ["8"])]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1", "creates", "12"),
        ("1", "updates", "4"),
        ("1", "total", "16"),
        ("8", "creates", "12"),
        ("8", "updates", "4"),
        ("8", "total", "16"),
    ]
    # Requests per changed row come from the sandbox's counts: 1 POST per create, a read and
    # a PUT per update, plus one listing page per sync.
    assert [r[5] for r in rows] == ["13", "9", "22", "13", "9", "22"]
    assert any(line.startswith("speed-up at 8 workers: ") for line in lines)
    assert any(line.startswith("requests per changed row: 1.38 overall") for line in lines)
    assert lines[-1].startswith("targets: speed-up >= 5x ")
