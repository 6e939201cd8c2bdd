"""One backoff shared by every thread of a SCIM client.

A 429 or a ``Retry-After`` is the server saying "slow down" to the client, not to one
request: when parallel workers share a client, the worker that got it pauses and every
other worker waits at the gate before its next request, instead of each finding out on its
own (and the server seeing eight times the load it asked to shed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["SharedBackoff"]


class SharedBackoff:
    """A gate closed while any thread pauses for the server; requests wait at it.

    Overlapping pauses (two workers rate-limited at once) keep the gate closed until the
    last one ends. The pause itself goes through ``sleep`` (tests pass a recorder), so the
    waits a client asks for stay observable; the waiters block on a condition, not a sleep.
    """

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self._sleep = sleep
        self._changed = threading.Condition()
        self._pausing = 0

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` with the gate closed to every other thread."""
        with self._changed:
            self._pausing += 1
        try:
            self._sleep(seconds)
        finally:
            with self._changed:
                self._pausing -= 1
                self._changed.notify_all()

    def wait(self) -> None:
        """Return once no thread is pausing (at once when none is)."""
        with self._changed:
            self._changed.wait_for(lambda: self._pausing == 0)
