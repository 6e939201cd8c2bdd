"""Test and demo controls: injected faults, next-token claim overrides, request counts and
requests in flight (so a reset can wait for them)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ENDPOINTS", "Controls", "Fault", "FaultKind"]

# Endpoint names used by faults and request counts (stable: tests and docs use them).
ENDPOINTS = (
    "discovery",
    "jwks",
    "authorize",
    "token",
    "userinfo",
    "endsession",
    "saml_metadata",
    "saml_sso",
    "saml_slo",
    "scim_users",
    "scim_groups",
    "scim_membership",
    "scim_discovery",
)

FaultKind = Literal["latency", "error", "rate_limit", "malformed"]
FaultWhen = Literal["before", "after"]
_KINDS = ("latency", "error", "rate_limit", "malformed")
_WHEN = ("before", "after")

# How long a reset waits for requests in flight (a delayed write must not land afterwards).
RESET_DRAIN_SECONDS = 5.0


class ControlError(ValueError):
    """An admin request asked for something impossible; the message says what."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Fault:
    """One injected fault on one endpoint.

    ``latency`` delays by ``delay`` seconds: ``when="before"`` (the default) waits before
    handling the request, ``when="after"`` handles it (a write is committed) and then waits
    before answering; ``error`` answers ``status`` (5xx by default); ``rate_limit``
    answers 429 with ``Retry-After: retry_after``; ``malformed`` sends the real status and
    headers with a truncated body (an empty 204 becomes a 200 with a garbled body).
    ``times`` limits how many requests it hits (None: until cleared). ``every`` spreads it
    out: only every Nth request to the endpoint is hit (the Nth, 2Nth...), so a long run
    (a crew sync) meets the fault now and then instead of all at once.
    """

    kind: FaultKind
    status: int = 503
    delay: float = 0.0
    retry_after: int = 30
    when: FaultWhen = "before"
    times: int | None = None
    every: int | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Fault:
        """Build from a JSON object, raising ``ControlError`` on anything unexpected."""
        unknown = set(values) - {
            "kind",
            "status",
            "delay",
            "retry_after",
            "when",
            "times",
            "every",
        }
        if unknown:
            raise ControlError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        kind = values.get("kind")
        if kind not in _KINDS:
            raise ControlError(f'fault "kind" must be one of {", ".join(_KINDS)}')
        when = values.get("when", "before")
        if when not in _WHEN:
            raise ControlError('fault "when" must be "before" or "after"')
        if when == "after" and kind != "latency":
            raise ControlError('fault "when" applies to kind "latency" only')
        try:
            fault = cls(
                kind=kind,
                status=int(values.get("status", 503)),
                delay=float(values.get("delay", 0.0)),
                retry_after=int(values.get("retry_after", 30)),
                when=when,
                times=None if values.get("times") is None else int(values["times"]),
                every=None if values.get("every") is None else int(values["every"]),
            )
        except (TypeError, ValueError) as err:
            raise ControlError("fault fields must be numbers") from err
        if not 400 <= fault.status <= 599:
            raise ControlError('fault "status" must be 400-599')
        if not 0 <= fault.delay <= 60:
            raise ControlError('fault "delay" must be 0-60 seconds')
        if fault.times is not None and fault.times < 1:
            raise ControlError('fault "times" must be at least 1')
        if fault.every is not None and fault.every < 1:
            raise ControlError('fault "every" must be at least 1')
        return fault


class Controls:
    """Mutable, thread-safe knobs shared by every request handler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._faults: dict[str, Fault] = {}
        self._remaining: dict[str, int | None] = {}
        self._seen: Counter[str] = Counter()  # requests a fault with "every" has looked at
        self._counts: Counter[str] = Counter()
        self._method_counts: dict[str, Counter[str]] = {}
        self._status_counts: dict[str, Counter[str]] = {}
        self._next_claims: dict[str, dict[str, Any]] = {}
        self._in_flight = 0
        self._generation = 0
        self._metadata_valid_for: float | None = None

    def reset(self) -> None:
        """Clear faults, counts, pending claim overrides and the metadata lifetime override."""
        with self._lock:
            self._faults.clear()
            self._remaining.clear()
            self._seen.clear()
            self._counts.clear()
            self._method_counts.clear()
            self._status_counts.clear()
            self._next_claims.clear()
            self._metadata_valid_for = None

    # -- requests in flight ---------------------------------------------------------------

    def enter(self) -> int:
        """Record a request in flight; return the generation to hand to ``delay``."""
        with self._lock:
            self._in_flight += 1
            return self._generation

    def leave(self) -> None:
        """Record that a request ``enter`` counted has been answered."""
        with self._lock:
            self._in_flight -= 1
            self._changed.notify_all()

    def in_flight(self) -> int:
        """How many counted requests are being handled or delayed right now."""
        with self._lock:
            return self._in_flight

    def delay(self, seconds: float, generation: int) -> bool:
        """Sleep ``seconds`` unless ``interrupt`` is called; return False if it was."""
        deadline = time.monotonic() + seconds
        with self._lock:
            while self._generation == generation:
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self._changed.wait(left)
            return False

    def interrupt(self, timeout: float = RESET_DRAIN_SECONDS) -> int:
        """Cut every injected delay short and wait up to ``timeout`` for requests in flight.

        Requests still waiting *before* handling are then answered 503 without being
        handled, so nothing a test set up before a reset lands after it. Returns how many
        requests were still in flight when the wait gave up (0: all drained).
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            self._generation += 1
            self._changed.notify_all()
            while self._in_flight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self._in_flight

    # -- request counts -------------------------------------------------------------------

    def count(self, endpoint: str, method: str = "GET") -> None:
        """Record one ``method`` request to ``endpoint``."""
        with self._lock:
            self._counts[endpoint] += 1
            self._method_counts.setdefault(endpoint, Counter())[method.upper()] += 1

    def counts(self) -> dict[str, int]:
        """Requests per endpoint since the last reset."""
        with self._lock:
            return dict(self._counts)

    def count_status(self, endpoint: str, status: int) -> None:
        """Record the HTTP status one request to ``endpoint`` was answered with."""
        with self._lock:
            self._status_counts.setdefault(endpoint, Counter())[str(status)] += 1

    def counts_by_status(self) -> dict[str, dict[str, int]]:
        """Answers per endpoint and HTTP status since the last reset (``{"token": {"400": 1}}``)."""
        with self._lock:
            return {name: dict(statuses) for name, statuses in self._status_counts.items()}

    def counts_by_method(self) -> dict[str, dict[str, int]]:
        """Requests per endpoint and HTTP method since the last reset."""
        with self._lock:
            return {name: dict(methods) for name, methods in self._method_counts.items()}

    def reset_counts(self) -> None:
        """Zero the request counts."""
        with self._lock:
            self._counts.clear()
            self._method_counts.clear()
            self._status_counts.clear()

    # -- faults ---------------------------------------------------------------------------

    def set_fault(self, endpoint: str, fault: Fault) -> None:
        """Inject ``fault`` on ``endpoint`` (replacing any previous one)."""
        if endpoint not in ENDPOINTS:
            raise ControlError(f"unknown endpoint {endpoint!r}; use one of {', '.join(ENDPOINTS)}")
        with self._lock:
            self._faults[endpoint] = fault
            self._remaining[endpoint] = fault.times
            self._seen[endpoint] = 0

    def clear_fault(self, endpoint: str | None = None) -> None:
        """Remove the fault on ``endpoint``, or every fault."""
        with self._lock:
            if endpoint is None:
                self._faults.clear()
                self._remaining.clear()
            else:
                self._faults.pop(endpoint, None)
                self._remaining.pop(endpoint, None)

    def faults(self) -> dict[str, dict[str, Any]]:
        """The active faults as JSON-ready objects."""
        with self._lock:
            return {
                name: {
                    "kind": f.kind,
                    "status": f.status,
                    "delay": f.delay,
                    "retry_after": f.retry_after,
                    "when": f.when,
                    "every": f.every,
                    "remaining": self._remaining.get(name),
                }
                for name, f in self._faults.items()
            }

    def take_fault(self, endpoint: str) -> Fault | None:
        """Return the fault to apply to this request to ``endpoint``, using up one shot."""
        with self._lock:
            fault = self._faults.get(endpoint)
            if fault is None:
                return None
            if fault.every is not None:
                self._seen[endpoint] += 1
                if self._seen[endpoint] % fault.every:
                    return None
            remaining = self._remaining.get(endpoint)
            if remaining is not None:
                if remaining <= 1:
                    del self._faults[endpoint]
                    del self._remaining[endpoint]
                else:
                    self._remaining[endpoint] = remaining - 1
            return fault

    # -- SAML metadata lifetime -----------------------------------------------------------

    def set_metadata_valid_for(self, seconds: float | None) -> None:
        """Make the IdP metadata's ``validUntil`` now + ``seconds`` (negative: expired);
        None restores the default lifetime."""
        with self._lock:
            self._metadata_valid_for = seconds

    def metadata_valid_for(self) -> float | None:
        """The ``validUntil`` override in seconds from now, or None."""
        with self._lock:
            return self._metadata_valid_for

    # -- next-token claims ----------------------------------------------------------------

    def set_next_claims(self, token: str, claims: Mapping[str, Any]) -> None:
        """Override claims in the next ``token`` (``id_token``, ``access_token``, ``userinfo``,
        ``logout_token``).

        A claim set to None is removed from that token. Applies once.
        """
        if token not in ("id_token", "access_token", "userinfo", "logout_token"):
            raise ControlError('"token" must be id_token, access_token, userinfo or logout_token')
        with self._lock:
            self._next_claims[token] = dict(claims)

    def take_next_claims(self, token: str) -> dict[str, Any] | None:
        """Return and forget the pending overrides for ``token``."""
        with self._lock:
            return self._next_claims.pop(token, None)


def apply_overrides(claims: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``claims`` with ``overrides`` applied; None values delete the claim."""
    if not overrides:
        return claims
    result = dict(claims)
    for name, value in overrides.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result
