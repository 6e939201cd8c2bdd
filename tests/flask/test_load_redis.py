"""Two sample-app processes on one real Redis: concurrent mixed logins, then Redis stops.

The figure run (about 200 concurrent logins) is ``benchmarks/redis_load.py``; this test
runs the same scenario small enough for the suite.
"""

from __future__ import annotations

from pathlib import Path

from .load import load_and_outage, two_apps_on_redis
from .processes import REDIS_SERVER


def test_concurrent_logins_survive_a_redis_outage(tmp_path: Path) -> None:
    """No login is lost or crosses browsers; while Redis is down every 5xx is the friendly
    503; after Redis returns on the same port logins work and earlier sessions remain."""
    assert REDIS_SERVER.exists(), "Debian redis-server is missing: run scripts/bootstrap"
    with two_apps_on_redis(tmp_path) as cluster:
        report = load_and_outage(cluster, logins=24, concurrency=12, outage_logins=9)
    summary = "\n".join(p.line() for p in report.phases)
    for phase in report.phases:
        assert not phase.bad_5xx, (phase.name, phase.bad_5xx)
        assert phase.outcomes["lost"] == 0 and phase.outcomes["crossed"] == 0, (
            f"{phase.name}: {dict(phase.details)}\n{summary}"
        )
    steady = report.phase("steady")
    assert steady.outcomes["ok"] == 24, summary
    down = report.phase("redis down")
    assert down.outcomes["refused"] == 9, summary
    assert set(down.five_xx) == {503}, summary
    mid = report.phase("redis stops mid-wave")
    assert mid.outcomes["refused"] >= 1 and set(mid.five_xx) <= {503}, summary
    assert report.phase("redis back").outcomes["ok"] == 9, summary
    assert report.phase("steady sessions after restart").outcomes["ok"] == 24, summary
