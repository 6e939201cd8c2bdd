"""Share one in-flight call among concurrent callers with the same key.

Owns: one fetch shared by concurrent callers, and its error.
Must not import: anything of rpkit but ``rpkit.errors`` (floor 1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .errors import ProviderUnavailableError, RpkitError

__all__ = ["SingleFlight"]

_T = TypeVar("_T")


@dataclass(slots=True)
class _Flight(Generic[_T]):
    event: threading.Event = field(default_factory=threading.Event)
    result: _T | None = None
    error: RpkitError | None = None
    done_at: float = 0.0


class SingleFlight(Generic[_T]):
    """Run ``call`` once per key at a time; waiters get the leader's result or error.

    A success stays available to late callers for ``keep_result`` seconds (a refresh token
    the provider rotated cannot be used twice); a failure is forgotten at once, so a retry
    after a flaky link is not blocked. With ``keep_result=0`` a success is forgotten as soon
    as the call returns (callers already waiting still get it): the next call runs again.
    ``monotonic`` times the window.
    """

    def __init__(
        self, *, keep_result: float, wait: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._monotonic = monotonic
        self._keep = keep_result
        self._wait = wait
        self._flights: dict[str, _Flight[_T]] = {}
        self._lock = threading.Lock()

    def run(self, key: str, call: Callable[[], _T]) -> _T:
        with self._lock:
            now = self._monotonic()
            for stale in [
                k for k, f in self._flights.items() if f.done_at and now - f.done_at > self._keep
            ]:
                del self._flights[stale]
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = _Flight()
                self._flights[key] = flight
        if not leader:
            flight.event.wait(self._wait)
            if flight.result is not None:
                return flight.result
            if flight.error is not None:
                raise flight.error
            raise ProviderUnavailableError("a concurrent call did not finish in time")
        try:
            flight.result = call()
            return flight.result
        except RpkitError as err:
            flight.error = err
            raise
        finally:
            flight.done_at = self._monotonic()
            flight.event.set()
            if flight.result is None or self._keep <= 0:
                with self._lock:
                    if self._flights.get(key) is flight:
                        del self._flights[key]
