"""OIDC Back-Channel Logout 1.0: logout tokens to the clients a session signed in to.

Delivery is best effort, as befits a dev tool: a short timeout, a log line and a record in
the admin API when the RP is down, never an error for the browser that signed out.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from .clock import SandboxClock
from .config import OidcClientConfig
from .controls import Controls
from .tokens import TokenService

__all__ = ["BackchannelLogout", "Delivery"]

logger = logging.getLogger("rpkit.sandbox")

_MAX_RECORDS = 200
_LOGOUT_TOKEN_LIFETIME = 120


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    """The outcome of one logout token POSTed to one client."""

    client_id: str
    uri: str
    sub: str
    sid: str
    jti: str
    ok: bool
    status: int | None
    error: str | None
    at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the admin API."""
        return asdict(self)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # Back-Channel Logout 1.0 §2.8: the RP answers itself; a redirect is a failure.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post_logout_token(uri: str, token: str, timeout: float) -> tuple[int | None, str | None]:
    """POST ``logout_token=<token>`` to ``uri``; return (HTTP status, error text)."""
    data = urlencode({"logout_token": token}).encode()
    req = urllib.request.Request(  # noqa: S310 - client config allows http(s) only
        uri,
        data=data,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with _OPENER.open(req, timeout=timeout) as response:
            return int(response.status), None
    except urllib.error.HTTPError as err:
        return int(err.code), f"the RP answered {err.code}"
    except (OSError, ValueError) as err:  # refused, unreachable, timed out, bad URL
        return None, f"{type(err).__name__}: {err}"


class BackchannelLogout:
    """Sign logout tokens, deliver them, and remember how each delivery went."""

    def __init__(
        self,
        *,
        clients: Mapping[str, OidcClientConfig],
        tokens: TokenService,
        controls: Controls,
        clock: SandboxClock,
        timeout: float,
        send: Callable[[str, str, float], tuple[int | None, str | None]] = post_logout_token,
    ) -> None:
        self._clients = clients
        self._tokens = tokens
        self._controls = controls
        self._clock = clock
        self._timeout = timeout
        self._send = send
        self._lock = threading.Lock()
        self._records: list[Delivery] = []

    def targets(self, client_ids: Sequence[str]) -> list[OidcClientConfig]:
        """The clients among ``client_ids`` that registered a back-channel logout URI."""
        found = (self._clients.get(c) for c in dict.fromkeys(client_ids))
        return [c for c in found if c is not None and c.backchannel_logout_uri]

    def deliver(self, *, sub: str, sid: str, client_ids: Sequence[str]) -> list[Delivery]:
        """Send a logout token to every target client now; return the outcomes."""
        outcomes = []
        for client in self.targets(client_ids):
            uri = client.backchannel_logout_uri or ""
            token, jti = self._tokens.issue_logout_token(
                client_id=client.client_id, subject=sub, sid=sid, lifetime=_LOGOUT_TOKEN_LIFETIME
            )
            status, error = self._send(uri, token, self._timeout)
            ok = status is not None and 200 <= status < 300
            if not ok:
                logger.warning(
                    "back-channel logout to %s (%s) failed: %s", client.client_id, uri, error
                )
            outcome = Delivery(
                client_id=client.client_id,
                uri=uri,
                sub=sub,
                sid=sid,
                jti=jti,
                ok=ok,
                status=status,
                error=error,
                at=self._clock.now().isoformat(),
            )
            with self._lock:
                self._records.append(outcome)
                del self._records[:-_MAX_RECORDS]
            outcomes.append(outcome)
        return outcomes

    def deliver_in_background(self, *, sub: str, sid: str, client_ids: Sequence[str]) -> None:
        """Like ``deliver``, on a daemon thread, so a slow or dead RP delays no response.

        The delivery counts as a request in flight: a reset waits for it (up to the
        delivery timeout), so its record does not land in the next test's state.
        """
        if not self.targets(client_ids):
            return
        self._controls.enter()

        def run() -> None:
            try:
                self.deliver(sub=sub, sid=sid, client_ids=client_ids)
            except Exception:  # a dev tool: log, never take the server down
                logger.exception("back-channel logout delivery crashed")
            finally:
                self._controls.leave()

        threading.Thread(target=run, name="rpkit-sandbox-backchannel", daemon=True).start()

    def deliveries(self) -> list[dict[str, Any]]:
        """Every recorded outcome, oldest first (the last 200)."""
        with self._lock:
            return [d.as_dict() for d in self._records]

    def clear(self) -> None:
        """Forget the recorded outcomes."""
        with self._lock:
            self._records.clear()
