"""Run fuzz targets for a number of inputs or a time budget, on one or several processes.

Every input that makes rpkit raise anything but ``RpkitError`` is an escape: its type,
the innermost rpkit frame and a sample input are kept, one entry per (type, frame).
Hypothesis only generates here (no shrinking, no example database): the harness catches
escapes itself, so a run never stops at the first one.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import time
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from rpkit.errors import RpkitError

from .mutate import Mutator
from .targets import TARGETS

__all__ = ["MUTANTS", "Escape", "TargetResult", "run_for_inputs", "run_for_seconds"]

#: Inputs per drawn example: the example itself and byte-level mutants of it.
MUTANTS = 50


@dataclass
class Escape:
    type: str
    where: str
    message: str
    example: str
    count: int = 1


@dataclass
class TargetResult:
    name: str
    inputs: int = 0
    skipped: int = 0
    seconds: float = 0.0  # wall time in this target's chunks
    cpu_seconds: float = 0.0  # this process's CPU time in them (fair on a shared machine)
    escapes: dict[str, Escape] = field(default_factory=dict)

    @property
    def escape_count(self) -> int:
        return sum(e.count for e in self.escapes.values())

    def merge(self, other: TargetResult) -> None:
        self.inputs += other.inputs
        self.skipped += other.skipped
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds
        for key, escape in other.escapes.items():
            if key in self.escapes:
                self.escapes[key].count += escape.count
            else:
                self.escapes[key] = escape


def _where(err: BaseException) -> str:
    """The innermost frame in rpkit (else the innermost frame at all)."""
    frames = traceback.extract_tb(err.__traceback__)
    inside = [f for f in frames if "/rpkit/" in f.filename and "/tests/" not in f.filename]
    frame = (inside or frames)[-1]
    return f"{frame.filename.rsplit('/rpkit/', 1)[-1]}:{frame.lineno} in {frame.name}"


def run_chunk(name: str, examples: int, seed: int, *, mutants: int = MUTANTS) -> TargetResult:
    """Draw ``examples`` inputs for target ``name``; feed each and ``mutants - 1`` byte-level
    mutants of it to rpkit (``examples * mutants`` inputs in all)."""
    target = TARGETS[name]
    target.setup()
    result = TargetResult(name)

    def call(prepared: Any) -> None:
        result.inputs += 1
        try:
            target.call(prepared)
        except RpkitError:
            pass
        except Exception as err:
            where = _where(err)
            key = f"{type(err).__name__} at {where}"
            if key in result.escapes:
                result.escapes[key].count += 1
            else:
                result.escapes[key] = Escape(
                    type=type(err).__name__,
                    where=where,
                    message=str(err)[:300],
                    example=repr(prepared)[:600],
                )

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(target.strategy(), st.integers(0, 2**64))
    def feed(description: Any, mutant_seed: int) -> None:
        try:
            prepared = target.prepare(description)
        except Exception:  # the harness could not build this one (e.g. lxml refused a name)
            result.skipped += 1
            return
        call(prepared)
        mutator = Mutator(random.Random(mutant_seed))
        for _ in range(mutants - 1):
            call(target.amplify(prepared, mutator))

    started, cpu = time.perf_counter(), time.process_time()
    feed()
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu
    return result


def _run_job(job: tuple[str, int, int]) -> TargetResult:
    return run_chunk(*job)


@contextmanager
def _quiet() -> Iterator[None]:
    """rpkit logs every refused input (SCIM retries, skipped keys): a million warnings."""
    logger = logging.getLogger("rpkit")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _worker_init(names: list[str]) -> None:
    # A pool process lives for this run only: stay quiet for good.
    logging.getLogger("rpkit").setLevel(logging.CRITICAL)
    _warm(names)


def _warm(names: Iterable[str]) -> None:
    for name in names:
        TARGETS[name].setup()


def run_for_inputs(
    inputs: dict[str, int], *, workers: int = 2, chunk: int = 100, seed: int = 0
) -> Iterator[TargetResult]:
    """Run each target for (at least) its number of inputs on ``workers`` processes.

    Work is cut in jobs of ``chunk`` drawn examples (``chunk * MUTANTS`` inputs); yields
    one result per job, as jobs finish.
    """
    jobs = []
    for index, (name, total) in enumerate(inputs.items()):
        examples = -(-total // MUTANTS)
        for n, start in enumerate(range(0, examples, chunk)):
            size = min(chunk, examples - start)
            jobs.append((name, size, seed * 1_000_003 + index * 100_003 + n))
    if workers <= 1:
        _warm(inputs)
        for job in jobs:
            with _quiet():
                result = _run_job(job)
            yield result
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_worker_init, initargs=(list(inputs),)) as pool:
        yield from pool.imap_unordered(_run_job, jobs)


def run_for_seconds(
    names: Iterable[str], seconds: float, *, chunk: int = 2, seed: int = 0
) -> dict[str, TargetResult]:
    """Share ``seconds`` equally between targets, in this process (for the test suite)."""
    names = list(names)
    _warm(names)
    results = {name: TargetResult(name) for name in names}
    for index, name in enumerate(names):
        deadline = time.monotonic() + seconds / len(names)
        n = 0
        while time.monotonic() < deadline:
            with _quiet():
                result = run_chunk(name, chunk, seed * 1_000_003 + index * 100_003 + n)
            results[name].merge(result)
            n += 1
    return results
