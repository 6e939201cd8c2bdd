"""LastKnownGood: the one last-known-good policy behind discovery, JWKS and SAML metadata."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rpkit._cache import DiskCopy, LastKnownGood
from rpkit._clock import clock_from_datetimes
from rpkit.errors import MetadataError, ProviderError, ProviderUnavailableError
from rpkit.store import FileCache

T0 = datetime(2026, 1, 1, tzinfo=UTC)
log = logging.getLogger("rpkit.test")


class Origin:
    """A document source: counts fetches, can fail with a given error, can block."""

    def __init__(self) -> None:
        self.calls = 0
        self.error: ProviderError | None = None
        self.gate: threading.Event | None = None
        self.version = 0

    def fetch(self, now: datetime) -> tuple[int, Any]:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.error is not None:
            raise self.error
        self.version += 1
        return self.version, {"version": self.version}


def load(document: Any, now: datetime) -> int:
    if not isinstance(document, dict) or not isinstance(document.get("version"), int):
        raise MetadataError("not a stored version")
    return int(document["version"])


def make(origin: Origin, tmp_path: Path | None = None, **options: Any) -> LastKnownGood[int]:
    disk = DiskCopy(FileCache(tmp_path), "doc", timedelta(days=7)) if tmp_path else None
    return LastKnownGood(
        fetch=origin.fetch,
        load=load,
        ttl=lambda _v, _n: timedelta(minutes=10),
        what="test document",
        log=log,
        disk=disk,
        backoff_ceiling=options.pop("backoff_ceiling", timedelta(minutes=5)),
        clock=clock_from_datetimes(lambda: T0),
        **options,
    )


def test_fresh_copy_is_reused_until_due() -> None:
    """Within the TTL no fetch happens; at the TTL one does."""
    origin = Origin()
    cache = make(origin)
    assert cache.get(T0) == 1 and cache.get(T0 + timedelta(minutes=9)) == 1
    assert origin.calls == 1 and cache.due == T0 + timedelta(minutes=10)
    assert cache.get(T0 + timedelta(minutes=10)) == 2


def test_backoff_doubles_up_to_the_ceiling_and_resets_on_success() -> None:
    """Failures wait 30 s, 60 s, 120 s, then the ceiling; a success restores the TTL."""
    origin = Origin()
    cache = make(origin, backoff_ceiling=timedelta(seconds=100))
    cache.get(T0)
    origin.error = ProviderUnavailableError("down")
    now = T0 + timedelta(minutes=10)
    pauses = []
    for _ in range(4):
        assert cache.get(now) == 1
        assert cache.due is not None
        pauses.append((cache.due - now).total_seconds())
        now = cache.due
    assert pauses == [30, 60, 100, 100]
    origin.error = None
    assert cache.get(now) == 2 and cache.due == now + timedelta(minutes=10)
    origin.error = ProviderUnavailableError("down")
    later = now + timedelta(minutes=10)
    cache.get(later)
    assert cache.due == later + timedelta(seconds=30)


def test_failure_without_any_copy_raises_the_providers_error() -> None:
    origin = Origin()
    origin.error = ProviderUnavailableError("down")
    with pytest.raises(ProviderUnavailableError):
        make(origin).get(T0)


def test_fatal_errors_are_raised_even_with_a_copy_in_hand() -> None:
    """A source that lists MetadataError as fatal never hides it behind the old copy."""
    origin = Origin()
    cache = make(origin, fatal=(MetadataError,))
    cache.get(T0)
    origin.error = MetadataError("issuer mismatch")
    with pytest.raises(MetadataError):
        cache.get(T0 + timedelta(hours=1))
    origin.error = ProviderUnavailableError("down")
    assert cache.get(T0 + timedelta(hours=1)) == 1


def test_disk_copy_serves_a_restart_within_max_age_only(tmp_path: Path) -> None:
    """A new cache with the origin down reads the disk copy; past max_age it raises."""
    origin = Origin()
    make(origin, tmp_path).get(T0)
    origin.error = ProviderUnavailableError("down")
    assert make(origin, tmp_path).get(T0 + timedelta(days=1)) == 1
    with pytest.raises(ProviderUnavailableError):
        make(origin, tmp_path).get(T0 + timedelta(days=8))


def test_an_invalid_disk_copy_is_ignored(tmp_path: Path) -> None:
    FileCache(tmp_path).write("doc", {"version": "tampered"}, now=T0.timestamp())
    origin = Origin()
    origin.error = ProviderUnavailableError("down")
    with pytest.raises(ProviderUnavailableError):
        make(origin, tmp_path).get(T0)


def test_forced_refresh_failure_leaves_a_fresh_copy_on_schedule() -> None:
    """An out-of-schedule fetch that fails keeps the copy and its due time."""
    origin = Origin()
    cache = make(origin)
    cache.get(T0)
    origin.error = ProviderUnavailableError("down")
    assert cache.refresh(T0 + timedelta(minutes=1)) == 1
    assert cache.due == T0 + timedelta(minutes=10)
    origin.error = None
    assert cache.refresh(T0 + timedelta(minutes=2)) == 2


def test_concurrent_callers_share_one_fetch_and_its_error() -> None:
    """Eight callers on a cold cache cause one fetch; all of them see its failure."""
    origin = Origin()
    origin.error = ProviderUnavailableError("down")
    origin.gate = threading.Event()
    cache = make(origin)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            cache.get(T0)
        except ProviderError as err:
            errors.append(err)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    while _waiting_on_a_flight(threads) < 7:  # the leader fetches, seven wait on it
        threading.Event().wait(0.005)
    origin.gate.set()
    for thread in threads:
        thread.join(10)
    assert origin.calls == 1
    assert len(errors) == 8 and all(isinstance(e, ProviderUnavailableError) for e in errors)


def _waiting_on_a_flight(threads: list[threading.Thread]) -> int:
    """How many of ``threads`` joined a SingleFlight call as followers (not the leader)."""
    frames = sys._current_frames()
    count = 0
    for thread in threads:
        frame = frames.get(thread.ident or -1)
        while frame is not None and frame.f_code.co_name != "run":
            frame = frame.f_back
        if frame is not None and frame.f_locals.get("leader") is False:
            count += 1
    return count
