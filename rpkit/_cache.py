"""Last-known-good copies of what rpkit fetches from an identity provider.

OIDC discovery, the JWKS and SAML IdP metadata all come over a link that a ship may lose for
days, and all three follow this one policy (:class:`LastKnownGood`):

* **Fresh for a while.** A fetched copy is used without asking again until it is due:
  ``ttl(value, now)`` after the fetch (a setting for OIDC; for SAML derived from the
  metadata's ``validUntil``/``cacheDuration``).
* **Never an invalid copy.** A fetched document is parsed and validated before it replaces
  the one in hand; only a validated document is written to disk.
* **Last known good on failure.** When a fetch fails, the copy in memory stays in use, or
  after a restart the copy on disk if it is younger than ``max_age`` (a ship that starts
  offline still signs crew in). Without either, the error goes to the caller. Errors listed
  in ``fatal`` (OIDC discovery's ``MetadataError``: the server is not the configured issuer)
  go to the caller even with a copy in hand.
* **Backoff.** After a failed fetch the next try waits ``30 s x 2^(failures - 1)``, at most
  ``backoff_ceiling``, and the first success resets the count. OIDC sets the ceiling to
  30 s (a ship whose link comes back signs crew in within 30 s); SAML to
  ``metadata_max_refresh``.
* **Single flight.** Concurrent callers who find the copy due share one fetch: they get its
  value or its error.
* **Out of schedule.** :meth:`LastKnownGood.refresh` fetches now (a rotated key); rate
  limiting it is the caller's job (the JWKS cool-down, the SP's forced refresh). Its failure
  moves the schedule only when the copy in hand was due anyway.

Time: the schedule and the disk copy's age are read from the wall clock of the
:class:`~rpkit._clock.Clock` (aware UTC), or the ``now`` a caller passes (SAML's schedule
comes from ``validUntil``, a wall time); the shared fetch's window from its monotonic clock.

Owns: ``LastKnownGood``: the last good copy of a fetched document in memory and on disk, its
backoff and its single fetch.
Must not import: a protocol, ``rpkit._http`` or a web layer; it neither fetches nor parses
(its callers hand it both steps, floor 1).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from ._clock import Clock
from ._single_flight import SingleFlight
from .errors import ProviderError
from .store import FileCache

__all__ = ["BACKOFF_START", "DiskCopy", "LastKnownGood"]

_T = TypeVar("_T")

BACKOFF_START = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class DiskCopy:
    """Where a last-known-good document is kept on disk, and how old it may be read back."""

    files: FileCache
    name: str
    max_age: timedelta

    def write(self, document: Any, now: datetime) -> None:
        self.files.write(self.name, document, now=now.timestamp())

    def read(self, now: datetime) -> Any | None:
        return self.files.read(self.name, max_age=self.max_age, now=now.timestamp())


@dataclass(kw_only=True, eq=False)
class LastKnownGood(Generic[_T]):
    """One fetched document, parsed, kept fresh, and kept when the provider is unreachable.

    Attributes:
        fetch: fetch and validate at ``now``; returns the value and the JSON-able document
            to keep on disk. Raises ``ProviderError`` (``MetadataError`` when invalid).
        load: validate a document read back from disk at ``now``; raises ``ProviderError``
            when it no longer passes (the disk copy is then ignored).
        ttl: how long a value fetched at ``now`` stays fresh.
        what: names the document in log lines ("OIDC discovery", "JWKS", ...).
        log: the logger of the protocol package.
        disk: where the disk copy lives (None: memory only).
        backoff_ceiling: the longest pause between failed fetches.
        fatal: errors raised even when a copy is in hand.
        wait: how long a concurrent caller waits for the shared fetch.
        on_update: called with the previous and the new value after each successful fetch.
        clock: the clock (its wall time for the schedule, monotonic for the shared fetch).
    """

    fetch: Callable[[datetime], tuple[_T, Any]]
    load: Callable[[Any, datetime], _T]
    ttl: Callable[[_T, datetime], timedelta]
    what: str
    log: logging.Logger
    disk: DiskCopy | None
    backoff_ceiling: timedelta
    fatal: tuple[type[ProviderError], ...] = ()
    wait: timedelta = timedelta(seconds=60)
    on_update: Callable[[_T | None, _T], None] | None = None
    clock: Clock = field(default_factory=Clock)
    _value: _T | None = field(default=None, init=False)
    _due: datetime | None = field(default=None, init=False)
    _failures: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _flight: SingleFlight[_T] = field(init=False)

    def __post_init__(self) -> None:
        self._flight = SingleFlight(
            keep_result=0.0, wait=self.wait.total_seconds(), monotonic=self.clock.monotonic
        )

    @property
    def value(self) -> _T | None:
        """The copy in hand (None before the first successful fetch or disk read)."""
        return self._value

    @property
    def due(self) -> datetime | None:
        """When the copy in hand is fetched again (after a failure: the next try)."""
        return self._due

    def get(self, now: datetime | None = None) -> _T:
        """The copy in hand while fresh; otherwise fetch (falling back as the policy says)."""
        now = now if now is not None else self.clock.now()
        value, due = self._value, self._due
        if value is not None and due is not None and now < due:
            return value
        return self._flight.run("", lambda: self._update(now, forced=False))

    def refresh(self, now: datetime | None = None) -> _T:
        """Fetch now, whatever the schedule says (falling back as the policy says)."""
        now = now if now is not None else self.clock.now()
        return self._flight.run("", lambda: self._update(now, forced=True))

    def _update(self, now: datetime, *, forced: bool) -> _T:
        with self._lock:
            current, due = self._value, self._due
            was_due = current is None or due is None or now >= due
            if not forced and not was_due:
                assert current is not None
                return current  # fetched by another caller meanwhile
            try:
                value, document = self.fetch(now)
            except ProviderError as err:
                if isinstance(err, self.fatal):
                    raise
                return self._fall_back(err, now, reschedule=was_due)
            self._failures = 0
            self._value = value
            self._due = now + self.ttl(value, now)
            if self.on_update is not None:
                self.on_update(current, value)
            if self.disk is not None:
                self.disk.write(document, now)
            return value

    def _fall_back(self, err: ProviderError, now: datetime, *, reschedule: bool) -> _T:
        fallback = self._value if self._value is not None else self._from_disk(now)
        if fallback is None:
            raise err
        if reschedule:
            self._failures += 1
            pause = min(BACKOFF_START * 2 ** (self._failures - 1), self.backoff_ceiling)
            self._due = now + pause
        self._value = fallback
        assert self._due is not None
        self.log.warning(
            "rpkit: %s fetch failed (%s); using the last-known-good copy, next try in %ss",
            self.what,
            err.code,
            int((self._due - now).total_seconds()),
        )
        return fallback

    def _from_disk(self, now: datetime) -> _T | None:
        document = self.disk.read(now) if self.disk is not None else None
        if document is None:
            return None
        try:
            value = self.load(document, now)
        except ProviderError:
            return None
        self.log.warning("rpkit: using the last-known-good %s from disk", self.what)
        return value
