"""The benchmarks run end to end with tiny counts, so they cannot rot unnoticed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPKIT_")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_login_throughput_runs_every_row_and_checks_sessions() -> None:
    """Every row signs unique users in under gunicorn and their sessions answer /me."""
    text = _run(
        "login_throughput.py",
        *("--n=2", "--peer-n=1", "--pysaml2-n=1", "--floor-n=5"),
        *("--rounds=1", "--sample=2", "--concurrency=1"),
    )
    rows = re.findall(r"^  (rpkit|peer)\s+(.+?)\s+(\d+)\s+[\d.]+x.*?(\d+)/(\d+)\s*$", text, re.M)
    labels = [" ".join(f"{kind} {label}".split()) for kind, label, *_ in rows]
    for title in ("OIDC callback", "SAML ACS"):
        assert title in text
    for store in ("memory", "redis"):
        for users in ("distinct users", "one user"):
            assert labels.count(f"rpkit {store} {users}") == 2, labels  # OIDC and SAML
    assert any("Authlib" in label for label in labels)
    assert all(ok == checked and int(checked) > 0 for *_, ok, checked in rows), text
    assert "Targets (this run):" in text and "SAML ACS memory, time vs the floor" in text


def test_saml_acs_benchmark_builds_fixtures_for_today() -> None:
    """The ACS benchmark validates its responses today (its metadata is not date-pinned)."""
    text = _run("saml_acs.py", "--n=3", "--pysaml2-n=1")
    assert re.search(r"rpkit / floor\s+=\s+[\d.]+x", text), text
