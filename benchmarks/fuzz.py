"""Fuzz rpkit's parsers and validators at scale; nothing but ``RpkitError`` may escape.

Targets: the OIDC callback (callback parameters, token endpoint answer, ID token), JWT/JWS
parsing and ID/access/logout token validation, the SAML gate and ACS, SCIM response
parsing, and the crew roster reader. Inputs are mostly mutations of valid, correctly
signed messages (hypothesis strategies, then byte-level mutants), plus random bytes.
Prints, per target, the inputs fed, the time and every escape (type, rpkit frame,
sample input); exits 1 if anything escaped.

    .venv/bin/python benchmarks/fuzz.py                       # 1,000,000 inputs, 2 processes
    .venv/bin/python benchmarks/fuzz.py --inputs 50000 --workers 1
    .venv/bin/python benchmarks/fuzz.py --targets jwt,roster --seed 7
    .venv/bin/python benchmarks/fuzz.py --quick                # the suite's smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.runner import MUTANTS, TargetResult, run_for_inputs  # noqa: E402
from tests.fuzz.targets import TARGETS  # noqa: E402

# Share of the inputs per target: cheaper targets get more.
WEIGHTS = {"oidc_callback": 2, "jwt": 3, "saml_acs": 2, "scim": 2, "roster": 1}


def _until_planned(
    plan: dict[str, int], totals: dict[str, TargetResult], workers: int, seed: int
) -> Iterator[TargetResult]:
    """Results until each target was fed its planned inputs (drawn examples the harness
    could not build are not counted, so a short target gets another round)."""
    wanted, rounds = dict(plan), 0
    while plan:
        yield from run_for_inputs(plan, workers=workers, seed=seed + 7919 * rounds)
        rounds += 1
        plan = {n: w - totals[n].inputs for n, w in wanted.items() if totals[n].inputs < w}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="total inputs")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2,000 inputs, one process")
    args = parser.parse_args()
    if args.quick:
        args.inputs, args.workers = 2_000, 1
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    weight = sum(WEIGHTS[n] for n in names)
    plan = {n: args.inputs * WEIGHTS[n] // weight for n in names}
    print(
        f"fuzzing {sum(plan.values()):,} inputs on {args.workers} process(es), "
        f"{MUTANTS} inputs per drawn example, seed {args.seed}",
        flush=True,
    )
    totals = {n: TargetResult(n) for n in names}
    started = time.perf_counter()
    done = 0
    for result in _until_planned(plan, totals, args.workers, args.seed):
        for key, escape in result.escapes.items():
            if key not in totals[result.name].escapes:
                print(f"  new escape in {result.name}: {key}: {escape.message[:200]}", flush=True)
        totals[result.name].merge(result)
        done += result.inputs
        if done // 50_000 != (done - result.inputs) // 50_000:
            print(f"  {done:,} inputs, {time.perf_counter() - started:.0f} s", flush=True)
    wall = time.perf_counter() - started
    print(
        f"\n{'target':<14}{'inputs':>11}{'wall s':>9}{'cpu s':>9}{'inputs/cpu s':>14}{'escapes':>9}"
    )
    for name in names:
        r = totals[name]
        rate = r.inputs / r.cpu_seconds if r.cpu_seconds else 0.0
        print(
            f"{name:<14}{r.inputs:>11,}{r.seconds:>9.1f}{r.cpu_seconds:>9.1f}{rate:>14.0f}"
            f"{r.escape_count:>9}"
        )
    inputs = sum(r.inputs for r in totals.values())
    cpu = sum(r.cpu_seconds for r in totals.values()) or 1.0
    escapes = sum(r.escape_count for r in totals.values())
    skipped = sum(r.skipped for r in totals.values())
    print(f"{'total':<14}{inputs:>11,}{'':>9}{cpu:>9.1f}{inputs / cpu:>14.0f}{escapes:>9}")
    print(
        f"wall time {wall:.1f} s on {args.workers} process(es); {skipped} drawn examples the "
        "harness could not build (not counted)"
    )
    for name in names:
        for key, escape in totals[name].escapes.items():
            print(f"\nESCAPE {name}: {escape.count} x {key}\n  {escape.message}")
            print(f"  example: {escape.example}")
    return 1 if escapes else 0


if __name__ == "__main__":
    sys.exit(main())
