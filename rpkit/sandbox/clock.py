"""The sandbox clock: real time plus an offset that tests and demos may shift."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

__all__ = ["SandboxClock"]


class SandboxClock:
    """Wall-clock time shifted by an adjustable offset (thread-safe).

    Everything time-dependent in the sandbox (token ``iat``/``exp``, code expiry, SAML
    validity windows, contract dates at login, SCIM ``meta`` timestamps) reads this clock,
    so shifting it makes tokens expire or contracts end without waiting.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        """Seconds added to the real clock."""
        with self._lock:
            return self._offset

    def set_offset(self, seconds: float) -> None:
        """Set the offset from the real clock, in seconds."""
        with self._lock:
            self._offset = float(seconds)

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, if negative) by ``seconds``."""
        with self._lock:
            self._offset += float(seconds)

    def time(self) -> float:
        """Return the sandbox time as a Unix timestamp."""
        return time.time() + self.offset

    def now(self) -> datetime:
        """Return the sandbox time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def today(self) -> date:
        """Return the sandbox date (UTC)."""
        return self.now().date()
