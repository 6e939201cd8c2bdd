"""The sandbox's SCIM API under concurrent clients: a threaded server and a safe store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from rpkit.testing import SandboxHandle

from .helpers import scim_headers

EXT = "urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew"
SEED_IDS = ("87234", "87235", "87236", "87237", "87238", "87239", "87240", "87241")
RANKS = ("Master", "Chief Officer", "Second Officer", "Third Officer", "Bosun", "Cook", "Wiper")


def _together(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run ``calls`` on as many threads, released at the same moment."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], requests.Response]) -> requests.Response:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _new_user(n: int, user_name: str | None = None) -> dict[str, Any]:
    return {
        "userName": user_name or f"parallel{n}@nordic-aurora.example",
        "externalId": f"PAR-{n}",
        "name": {"givenName": "Par", "familyName": f"Allel{n}"},
        "active": True,
        "groups": [],
        "emails": [{"value": f"parallel{n}@nordic-aurora.example", "type": "work"}],
        EXT: {"rank": "Wiper", "userFields": []},
    }


def test_eight_concurrent_puts_all_land(sandbox: SandboxHandle) -> None:
    """8 PUTs to 8 users, held in the server together, each leave their write."""
    base = sandbox.urls["scim_base"]
    headers = scim_headers(sandbox.scim_token())
    bodies = {}
    for n, user_id in enumerate(SEED_IDS):
        body = requests.get(f"{base}/Users/{user_id}", headers=headers, timeout=10).json()
        body.pop("meta", None)
        body[EXT]["rank"] = RANKS[n % len(RANKS)]
        body["displayName"] = f"Parallel {n}"
        bodies[user_id] = body
    # Each request waits in the server until all eight are in flight.
    sandbox.set_fault("scim_users", "latency", delay=0.5, times=8)
    seen_in_flight: list[int] = []

    def put(user_id: str) -> Callable[[], requests.Response]:
        def call() -> requests.Response:
            return requests.put(
                f"{base}/Users/{user_id}", json=bodies[user_id], headers=headers, timeout=10
            )

        return call

    watcher_done = threading.Event()

    def watch() -> None:
        while not watcher_done.wait(0.02):
            seen_in_flight.append(sandbox.state.controls.in_flight())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        answers = _together([put(user_id) for user_id in SEED_IDS])
    finally:
        watcher_done.set()
        watcher.join()
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert max(seen_in_flight) == 8  # handled concurrently, not one after another
    for n, user_id in enumerate(SEED_IDS):
        stored = requests.get(f"{base}/Users/{user_id}", headers=headers, timeout=10).json()
        assert stored[EXT]["rank"] == RANKS[n % len(RANKS)]
        assert stored["displayName"] == f"Parallel {n}"


def test_eight_concurrent_posts_get_eight_ids(sandbox: SandboxHandle) -> None:
    """8 concurrent POSTs of different users create 8 users with distinct ids."""
    base = sandbox.urls["scim_base"]
    headers = scim_headers(sandbox.scim_token())

    def post(n: int) -> Callable[[], requests.Response]:
        return lambda: requests.post(
            f"{base}/Users", json=_new_user(n), headers=headers, timeout=10
        )

    answers = _together([post(n) for n in range(8)])
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 8
    listed = requests.get(
        f"{base}/Users", params={"count": "100"}, headers=headers, timeout=10
    ).json()
    assert listed["totalResults"] == len(SEED_IDS) + 8


def test_concurrent_posts_of_one_user_name_create_one(sandbox: SandboxHandle) -> None:
    """8 concurrent POSTs of one userName: one 201, seven 409, one stored user."""
    base = sandbox.urls["scim_base"]
    headers = scim_headers(sandbox.scim_token())
    same = "same.person@nordic-aurora.example"
    answers = _together(
        [
            (
                lambda n=n: requests.post(
                    f"{base}/Users", json=_new_user(n, same), headers=headers, timeout=10
                )
            )
            for n in range(8)
        ]
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7
    found = requests.get(
        f"{base}/Users", params={"filter": f'userName eq "{same}"'}, headers=headers, timeout=10
    ).json()
    assert found["totalResults"] == 1


def test_fault_every_nth_request(sandbox: SandboxHandle) -> None:
    """A fault with every=3 hits the 3rd, 6th and 9th request only."""
    base = sandbox.urls["scim_base"]
    headers = scim_headers(sandbox.scim_token())
    sandbox.set_fault("scim_users", "error", status=503, every=3)
    statuses = [
        requests.get(f"{base}/Users/87234", headers=headers, timeout=10).status_code
        for _ in range(9)
    ]
    assert statuses == [200, 200, 503] * 3
    assert sandbox.admin("GET", "faults")["scim_users"]["every"] == 3
