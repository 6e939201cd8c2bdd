"""Parallel apply against the sandbox: injected faults, one shared backoff, exact progress."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rpkit.errors import ValidationError
from rpkit.scim import ScimClient
from rpkit.scim.sync import apply_plan
from rpkit.testing import SandboxHandle

from .conftest import MakeClient
from .helpers import INGRID, INGRID_ID
from .test_sync import PIOTR_ID, _by_email, new_row, plan, seed_rows

NEW_CREW = 40


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "error", "status": 503, "every": 5},
        {"kind": "rate_limit", "retry_after": 0, "every": 5},
        # The write lands, the answer comes after the client gave up: a POST must be
        # looked up, not resent, or the user would be created twice.
        {"kind": "latency", "delay": 0.6, "when": "after", "every": 7},
    ],
    ids=["5xx", "429", "timeout"],
)
def test_eight_workers_under_faults_lose_and_duplicate_nothing(
    sandbox: SandboxHandle, make_client: MakeClient, fault: dict[str, Any]
) -> None:
    """With every Nth SCIM request failing, 8 workers apply every action exactly once and a
    second run plans nothing."""
    # Only the latency fault needs the client to give up early; the others keep a timeout
    # that a loaded CI machine cannot trip by accident.
    client = make_client(timeout=0.3 if fault["kind"] == "latency" else 5.0, max_retries=10)
    rows = [*seed_rows(client), *(new_row(n) for n in range(1, NEW_CREW + 1))]
    _by_email(rows, INGRID)["rank"] = "Chief Officer"
    kind = fault.pop("kind")
    sandbox.set_fault("scim_users", kind, **fault)
    first = plan(client, rows, "disable")
    assert (first.count("create"), first.count("update"), first.count("departure")) == (
        NEW_CREW,
        1,
        1,
    )

    report = apply_plan(client, first, workers=8)

    hits = sandbox.request_counts(by_method=True)["scim_users"]
    sandbox.clear_faults()
    assert report.failed == (), [(f.action.user_name, f.reason) for f in report.failed]
    assert report.applied == first.actions  # all of them, in plan order
    users = list(client.list_users())
    names = [u.user_name for u in users]
    assert len(names) == len(set(names)), "a user was created twice"
    created = {u.user_name: u for u in users if u.external_id and u.external_id.startswith("EMP-7")}
    assert sorted(created) == sorted(f"kari{n}@nordic-aurora.example" for n in range(1, 41))
    assert client.get_user(INGRID_ID).crew.rank == "Chief Officer"
    assert not client.get_user(PIOTR_ID).active
    assert hits["POST"] >= NEW_CREW  # the faults did hit the run
    assert plan(client, rows, "disable").is_empty


class _WatchingSleep:
    """A real sleep that measures how many SCIM requests reach the sandbox meanwhile."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self.sandbox = sandbox
        self.calls: list[tuple[str, float]] = []
        self.arrived_during: list[int] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append((threading.current_thread().name, seconds))
        settle = min(0.3, seconds / 3)
        time.sleep(settle)  # requests already in flight when the 429 came land now
        before = self.sandbox.request_counts()["scim_users"]
        time.sleep(seconds - settle)
        self.arrived_during.append(self.sandbox.request_counts()["scim_users"] - before)


def test_429_retry_after_pauses_every_worker(
    sandbox: SandboxHandle, make_client: MakeClient
) -> None:
    """One 429 with Retry-After: 1 stops all 8 workers for that second, not only the one
    that got it; then everything is applied."""
    setup = make_client()
    rows = [*seed_rows(setup), *(new_row(n) for n in range(1, 25))]
    assert apply_plan(setup, plan(setup, rows), workers=8).ok
    for row in rows[-24:]:
        row["rank"] = "Able Seaman"
    watching = _WatchingSleep(sandbox)
    client = ScimClient(setup.config, sleep=watching)
    updates = plan(client, rows)
    assert updates.count("update") == 24
    sandbox.set_fault("scim_users", "rate_limit", retry_after=1, times=1)

    started = time.monotonic()
    report = apply_plan(client, updates, workers=8)

    assert report.ok and len(report.applied) == 24
    assert [seconds for _, seconds in watching.calls] == [1.0]
    # Without a shared backoff the 7 other workers would send dozens of requests here.
    assert watching.arrived_during == [0]
    assert time.monotonic() - started >= 1.0
    assert plan(client, rows).is_empty


def test_progress_is_exact_under_concurrency(make_client: MakeClient) -> None:
    """Progress counts 1..N once each, from one thread at a time, invalid rows included."""
    client = make_client()
    rows = [*seed_rows(client), *(new_row(n) for n in range(1, 31))]
    rows.append(new_row(99, imo="9312457"))  # bad check digit: invalid, never sent
    seen: list[int] = []
    inside = threading.Lock()

    def progress(done: int, total: int, _action: object) -> None:
        assert inside.acquire(blocking=False), "progress called from two threads at once"
        try:
            assert total == 31
            seen.append(done)
            time.sleep(0.001)
        finally:
            inside.release()

    report = apply_plan(client, plan(client, rows), workers=8, progress=progress)
    assert seen == list(range(1, 32))
    assert (len(report.applied), len(report.failed), len(report.invalid)) == (30, 0, 1)


@pytest.mark.parametrize("workers", [0, 33])
def test_worker_count_is_bounded(client: ScimClient, workers: int) -> None:
    """0 or more than 32 workers is refused before anything is sent."""
    with pytest.raises(ValidationError) as caught:
        apply_plan(client, plan(client, [*seed_rows(client), new_row(1)]), workers=workers)
    assert caught.value.field == "workers"
    assert client.find_user(external_id="EMP-7001") is None
