"""The one clock rpkit reads: wall time for checks, monotonic time for cool-downs.

Every part that keeps time (the OIDC client, the SAML SP, the SCIM client, the caches, the
stores) takes one injectable :class:`Clock` instead of its own callables:

* :meth:`Clock.now` is the wall time as an aware UTC ``datetime``, shifted by the configured
  offset (``OidcConfig.clock_offset``: a ship whose identity server runs 5 minutes ahead).
  This is what the public surface speaks.
* :meth:`Clock.timestamp` is the same instant in epoch seconds, only for the JWT code
  (``exp``/``iat``/``nbf`` are epoch numbers, RFC 7519 §2) and token expiry.
* :meth:`Clock.monotonic` never jumps when NTP steps the wall clock; rate limits and
  cool-downs (the JWKS refetch cool-down, the shared-call window, memory-store expiry) use it.

The constructors' older ``clock=`` callables (epoch seconds for ``OidcClient`` and
``ScimClient``, datetimes for ``ServiceProvider``) stay accepted: :func:`clock_from` and
:func:`clock_from_datetimes` map them onto a ``Clock`` whose monotonic time is the real one.

Owns: ``Clock``, the one source of time, and the mapping of the older ``clock=`` arguments.
Must not import: anything of rpkit (floor 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "clock_from", "clock_from_datetimes"]


@dataclass(frozen=True, slots=True)
class Clock:
    """Wall time (aware UTC, with ``offset``) and monotonic time, both injectable.

    Attributes:
        wall: this machine's time in epoch seconds (``time.time``).
        monotonic: seconds that only ever go forward (``time.monotonic``).
        offset: added to the wall time: how far the provider's clock is ahead of ours.
    """

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        """The wall time plus ``offset``, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def timestamp(self) -> float:
        """:meth:`now` in epoch seconds (for the JWT code)."""
        return self.wall() + self.offset.total_seconds()

    def with_offset(self, offset: timedelta) -> Clock:
        """This clock, shifted by ``offset`` instead of its own."""
        return replace(self, offset=offset)


def clock_from(
    clock: Clock | Callable[[], float] | None, *, offset: timedelta | None = None
) -> Clock:
    """A ``Clock`` from a ``clock=`` argument: a ``Clock``, epoch seconds, or None (real).

    ``offset``, when given, replaces the clock's own (the configured ``clock_offset``).
    """
    if clock is None:
        result = Clock()
    elif isinstance(clock, Clock):
        result = clock
    else:
        result = Clock(wall=clock)
    return result if offset is None else result.with_offset(offset)


def clock_from_datetimes(clock: Clock | Callable[[], datetime] | None) -> Clock:
    """A ``Clock`` from a ``clock=`` argument: a ``Clock``, aware datetimes, or None (real)."""
    if clock is None or isinstance(clock, Clock):
        return clock_from(clock)
    source = clock

    def wall() -> float:
        value = source()
        if value.tzinfo is None:
            raise ValueError("the clock must give timezone-aware (UTC) datetimes")
        return value.timestamp()

    return Clock(wall=wall)
