"""Load and faults: two sample-app processes on one real Redis, then Redis goes away.

About 200 virtual browsers (own cookie jars, mixed OIDC and SAML, started on one process
and finished on either) sign in at once against the sandbox. Then Redis is stopped while
a wave of logins is under way, more logins arrive while it is down, and it is restarted
on the same port. Prints, per phase, the outcomes (ok, refused = a 503, lost, crossed)
and every status the apps answered; exits 1 on a lost or crossed login or a 5xx other
than the friendly 503.

    .venv/bin/python benchmarks/redis_load.py [--logins 200] [--concurrency 200] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.flask.load import load_and_outage, two_apps_on_redis  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--outage-logins", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="6 logins (the test suite)")
    args = parser.parse_args()
    if args.quick:
        args.logins, args.concurrency, args.outage_logins = 6, 6, 3
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the sandbox's request log
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="rpkit-load-") as tmp,
        two_apps_on_redis(Path(tmp)) as cluster,
    ):
        print(f"apps {cluster.apps[0]} and {cluster.apps[1]}, redis {cluster.redis.url}")
        report = load_and_outage(
            cluster,
            logins=args.logins,
            concurrency=args.concurrency,
            outage_logins=args.outage_logins,
            seed=args.seed,
        )
    failed = False
    for phase in report.phases:
        print(phase.line())
        for detail, count in sorted(phase.details.items()):
            print(f"    {count} x {detail}")
        if phase.bad_5xx:
            failed = True
            print(f"    5xx other than the friendly 503: {phase.bad_5xx[:10]}")
        if phase.outcomes["lost"] or phase.outcomes["crossed"]:
            failed = True
    steady = report.phase("steady")
    outage = report.phase("redis stops mid-wave").five_xx
    down = report.phase("redis down").five_xx
    print(
        f"\nlogins {sum(steady.outcomes.values())} at concurrency {args.concurrency}: "
        f"ok {steady.outcomes['ok']}, lost {steady.outcomes['lost']}, "
        f"crossed {steady.outcomes['crossed']} in {steady.seconds:.1f} s"
    )
    print(f"5xx while Redis stopped: mid-wave {outage}, down {down} (503 = friendly page)")
    print(f"first login ok {report.recovery_seconds:.2f} s after Redis returned")
    back, kept = report.phase("redis back"), report.phase("steady sessions after restart")
    print(
        f"after restart: logins ok {back.outcomes['ok']}/{sum(back.outcomes.values())}, "
        f"earlier sessions intact {kept.outcomes['ok']}/{sum(kept.outcomes.values())}"
    )
    print(f"total {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
