"""Crew sync at fleet scale: ``--workers 1`` (the baseline) against the default, same run.

Against the sandbox with latency injected on its SCIM endpoints (100 ms per call by
default, a normal figure for a remote API), each mode starts from the seed, syncs
``--count`` new crew (creates), then a roster in which ``--updates`` of them changed rank
(updates). Printed per mode and phase: wall time, changed rows per second, SCIM requests
(the sandbox's own counts) and requests per changed row; then the speed-up of the default
over one worker. Every run also checks the outcome: nothing failed, every user exists
once, and a second plan is empty.

Targets: a speed-up of at least 5x at the default concurrency, at most 2 requests per
changed row.

    .venv/bin/python benchmarks/crew_sync.py                 # 2,000 creates, 500 updates
    .venv/bin/python benchmarks/crew_sync.py --quick         # seconds; the test suite runs it
    .venv/bin/python benchmarks/crew_sync.py --count 500 --updates 100 --latency 0.05
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rpkit.scim import ScimClient, ScimConfig  # noqa: E402
from rpkit.scim.roster import Roster, parse_roster, rows_to_csv  # noqa: E402
from rpkit.scim.sync import DEFAULT_WORKERS, SyncOptions, apply_plan, plan_sync  # noqa: E402
from rpkit.testing import (  # noqa: E402
    SCIM_CLIENT_ID,
    SCIM_CLIENT_SECRET,
    SandboxHandle,
    sandbox_server,
)

SPEED_UP_TARGET = 5.0
REQUESTS_PER_ROW_TARGET = 2.0
AURORA = "9312456"  # MV Nordic Aurora, a ship of the sandbox seed


@dataclass(frozen=True)
class Phase:
    """One sync: how many rows changed, how long it took, how many SCIM requests."""

    name: str
    changed: int
    seconds: float
    requests: int

    @property
    def rows_per_second(self) -> float:
        return self.changed / self.seconds

    @property
    def requests_per_row(self) -> float:
        return self.requests / self.changed


def _crew(count: int, changed_rank: int) -> list[dict[str, str]]:
    start = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    end = (datetime.now(UTC).date() + timedelta(days=183)).isoformat()
    return [
        {
            "first_name": "Crew",
            "surname": f"Member{n:05d}",
            "email": f"crew{n:05d}@fleet.example",
            "employee_id": f"BENCH-{n:05d}",
            "rank": "Ordinary Seaman" if n < changed_rank else "Deck Cadet",
            "department": "Deck",
            "ship_name": "MV Nordic Aurora",
            "imo": AURORA,
            "contract_start": start,
            "contract_end": end,
        }
        for n in range(count)
    ]


def _roster(rows: list[dict[str, str]]) -> Roster:
    return parse_roster(rows_to_csv(rows))


def _sync(
    sandbox: SandboxHandle, client: ScimClient, roster: Roster, workers: int, name: str
) -> Phase:
    """Plan against Dualog's users and apply with ``workers``: timed and counted."""
    options = SyncOptions(departure_policy="keep")
    sandbox.reset_counts()
    started = time.perf_counter()
    plan = plan_sync(roster, client.list_users(), today=client.today(), options=options)
    report = apply_plan(client, plan, workers=workers)
    seconds = time.perf_counter() - started
    requests = sandbox.request_counts().get("scim_users", 0)
    if not report.ok or report.invalid:
        raise SystemExit(f"{name}: {len(report.failed)} failed, {len(report.invalid)} invalid")
    again = plan_sync(roster, client.list_users(), today=client.today(), options=options)
    if not again.is_empty:
        raise SystemExit(f"{name}: a second plan is not empty: {len(again.actions)} actions")
    return Phase(name=name, changed=len(report.applied), seconds=seconds, requests=requests)


def _run_mode(
    sandbox: SandboxHandle, workers: int, count: int, updates: int, latency: float
) -> list[Phase]:
    sandbox.reset()
    config = ScimConfig(
        base_url=sandbox.urls["scim_base"],
        token_url=sandbox.urls["token"],
        client_id=SCIM_CLIENT_ID,
        client_secret=SCIM_CLIENT_SECRET,
    )
    client = ScimClient(config)
    # The seed's crew stay as they are: the roster holds only the new crew, and the
    # departure policy "keep" leaves everyone else alone.
    sandbox.set_fault("scim_users", "latency", delay=latency)
    try:
        creates = _sync(sandbox, client, _roster(_crew(count, 0)), workers, "creates")
        changes = _sync(sandbox, client, _roster(_crew(count, updates)), workers, "updates")
    finally:
        sandbox.clear_faults()
    users = list(client.list_users())
    names = [u.user_name for u in users]
    if len(names) != len(set(names)) or sum(n.endswith("@fleet.example") for n in names) != count:
        raise SystemExit(f"workers={workers}: users lost or duplicated")
    return [creates, changes]


def _table(results: dict[int, list[Phase]]) -> None:
    print(
        f"{'workers':>7}  {'phase':<16} {'rows':>6} {'seconds':>8} {'rows/s':>8} "
        f"{'requests':>8} {'req/row':>7}"
    )
    for workers, phases in results.items():
        total = Phase(
            "total",
            sum(p.changed for p in phases),
            sum(p.seconds for p in phases),
            sum(p.requests for p in phases),
        )
        for phase in [*phases, total]:
            print(
                f"{workers:>7}  {phase.name:<16} {phase.changed:>6} {phase.seconds:>8.1f} "
                f"{phase.rows_per_second:>8.1f} {phase.requests:>8} "
                f"{phase.requests_per_row:>7.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="new crew to create")
    parser.add_argument("--updates", type=int, default=500, help="of them, ranks to change")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per SCIM call")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="the default to compare with 1"
    )
    parser.add_argument(
        "--quick",
        "--small",
        action="store_true",
        help="12 creates, 4 updates, 5 ms: a smoke run (the test suite runs it)",
    )
    args = parser.parse_args()
    if args.quick:
        args.count, args.updates, args.latency = 12, 4, 0.005
    if not 0 < args.updates <= args.count:
        parser.error("--updates must be 1..--count")

    print(
        f"crew sync: {args.count} creates then {args.updates} updates, "
        f"{args.latency * 1000:.0f} ms added per SCIM call; workers 1 vs {args.workers}"
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    with sandbox_server() as sandbox:
        results = {
            workers: _run_mode(sandbox, workers, args.count, args.updates, args.latency)
            for workers in (1, args.workers)
        }
    _table(results)
    serial = sum(p.seconds for p in results[1])
    parallel = sum(p.seconds for p in results[args.workers])
    speed_up = serial / parallel
    per_phase = ", ".join(
        f"{a.name} {a.seconds / b.seconds:.1f}x"
        for a, b in zip(results[1], results[args.workers], strict=True)
    )
    phases = results[args.workers]
    per_row = sum(p.requests for p in phases) / sum(p.changed for p in phases)
    worst = max(p.requests_per_row for p in phases)
    print(f"speed-up at {args.workers} workers: {speed_up:.1f}x ({per_phase})")
    print(
        f"requests per changed row: {per_row:.2f} overall, {worst:.2f} in the worst phase "
        "(listing included)"
    )
    print(
        f"targets: speed-up >= {SPEED_UP_TARGET:.0f}x "
        f"{'met' if speed_up >= SPEED_UP_TARGET else 'MISSED'}; "
        f"<= {REQUESTS_PER_ROW_TARGET:.0f} requests per changed row "
        f"{'met' if per_row <= REQUESTS_PER_ROW_TARGET else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
