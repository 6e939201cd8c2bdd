"""Token endpoint calls (RFC 6749 §4.1.3, §4.3, §4.4, §6): one POST, one parsed ``TokenSet``.

Requests go through rpkit's ``HttpClient`` (timeouts, CA, pinning, error mapping); the client
authenticates as its ``ClientConfig`` says. Authlib's ``OAuth2Session`` is not used because
it keeps the last token on the session object, which is shared state across requests.
Nothing here caches a token: the callers (``OidcClient``, the SCIM transport) own that.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from .._clock import Clock as _Clock
from .._clock import clock_from
from .._http import HttpClient, error_from_response, json_object
from ..errors import ProviderResponseError
from .client_auth import ClientConfig, client_auth
from .errors import classify_token_error

__all__ = [
    "ClientCredentialsSource",
    "TokenSet",
    "exchange_code",
    "request_client_credentials",
    "request_refresh",
    "request_token",
]

# A ``rpkit._clock.Clock`` or, as before, this machine's time in epoch seconds. Token
# lifetimes are measured here (``expires_in``), so the clock has no provider offset.
Clock = _Clock | Callable[[], float]

_VSCHAR = re.compile(r"[\x20-\x7e]+")
# What a request may carry that the provider may echo back into an error body.
_SECRET_FIELDS = ("code", "code_verifier", "refresh_token", "password")


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenSet:
    """A token endpoint response (RFC 6749 §5.1). Secrets are kept out of ``repr``.

    ``expires_at`` is when the access token expires, an aware UTC ``datetime`` measured
    from the moment of the response and its ``expires_in``; None when the provider did not
    say (or said something that is not a number of seconds).
    """

    access_token: str = field(repr=False)
    token_type: str
    expires_at: datetime | None = None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] = ()

    def expires_within(self, seconds: float, *, now: datetime) -> bool:
        """Whether the token expires ``seconds`` or less after ``now`` (or has expired)."""
        # A difference of two datetimes always fits a timedelta; ``now + seconds`` may not.
        return self.expires_at is not None and (self.expires_at - now).total_seconds() <= seconds

    @classmethod
    def from_response(cls, body: Mapping[str, Any], *, now: datetime) -> TokenSet:
        """Parse a token response; a missing ``access_token`` or a non-Bearer type raises.

        ``now``: the moment of the response (aware UTC), from which ``expires_in`` counts.
        """
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ProviderResponseError('token response has no "access_token"')
        if not _VSCHAR.fullmatch(access_token):
            # RFC 6749 §A.12: access_token = 1*VSCHAR (printable ASCII). Anything else is a
            # malformed response; it must not reach at_hash (ASCII octets) or a header.
            raise ProviderResponseError(
                'token response "access_token" has characters outside printable ASCII'
            )
        token_type = body.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            # RFC 6749 §7.1: we only know how to use Bearer tokens (RFC 6750).
            raise ProviderResponseError(f"token response token_type {token_type!r} is not Bearer")
        expires_in = _seconds(body.get("expires_in"))
        expires_at = None if expires_in is None else _after(now, expires_in)
        refresh_token = body.get("refresh_token")
        id_token = body.get("id_token")
        scope = body.get("scope")
        return cls(
            access_token=access_token,
            token_type="Bearer",
            expires_at=expires_at,
            refresh_token=refresh_token if isinstance(refresh_token, str) else None,
            id_token=id_token if isinstance(id_token, str) else None,
            scope=tuple(scope.split()) if isinstance(scope, str) else (),
        )


class ClientCredentialsSource(Protocol):
    """Hands out cached client-credentials tokens (``OidcClient`` is one)."""

    def client_credentials(self, scopes: tuple[str, ...]) -> TokenSet: ...

    def forget_client_credentials(self, scopes: tuple[str, ...]) -> None: ...


def _seconds(value: Any) -> float | None:
    """``expires_in`` as seconds; absent, malformed or not finite counts as unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str) and not value.isdigit():
        return None
    try:
        seconds = float(value)
    except (OverflowError, ValueError):  # 10**400 as an int, a digit string past the limit
        return None
    return seconds if math.isfinite(seconds) else None


def _after(now: datetime, seconds: float) -> datetime:
    """``now`` plus ``seconds``; past the calendar's end (``expires_in`` of 1e300) it is its
    last (or first) instant, as the epoch-seconds sum of earlier releases never expired."""
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        return (datetime.max if seconds > 0 else datetime.min).replace(tzinfo=UTC)


def request_token(
    http: HttpClient,
    client: ClientConfig,
    form: Mapping[str, str],
    *,
    what: str,
    clock: Clock = time.time,
) -> TokenSet:
    """POST ``form`` to the client's token endpoint and parse the answer.

    Raises:
        ProviderUnavailableError: network, timeout, 5xx, 429.
        InvalidGrantError: ``invalid_grant`` (the code, verifier or refresh token).
        ClientRejectedError: ``invalid_client`` and the other configuration errors.
        ProviderResponseError: another OAuth error body or a malformed token response.
    """
    data = dict(form)
    if client.auth_method == "client_secret_post":
        data.setdefault("client_id", client.client_id)
    response = http.request(
        "POST",
        client.token_endpoint,
        what=what,
        data=data,
        headers={"Accept": "application/json"},
        auth=client_auth(client),
    )
    sent = [data.get(k) for k in _SECRET_FIELDS]
    sent.append(client.client_secret)
    if response.status_code != 200:
        error = error_from_response(response, what, redact=sent)
        raise classify_token_error(error, auth_method=client.auth_method)
    body = json_object(response, what)
    if "error" in body:
        error = error_from_response(response, what, redact=sent)
        raise classify_token_error(error, auth_method=client.auth_method)
    return TokenSet.from_response(body, now=clock_from(clock).now())


def exchange_code(
    http: HttpClient,
    client: ClientConfig,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    clock: Clock = time.time,
) -> TokenSet:
    """The authorization code grant's token request (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    return request_token(http, client, form, what="token request", clock=clock)


def request_refresh(
    http: HttpClient, client: ClientConfig, refresh_token: str, *, clock: Clock = time.time
) -> TokenSet:
    """A refresh (RFC 6749 §6)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return request_token(http, client, form, what="refresh", clock=clock)


def request_client_credentials(
    http: HttpClient,
    client: ClientConfig,
    scopes: Iterable[str],
    *,
    what: str = "client credentials",
    clock: Clock = time.time,
) -> TokenSet:
    """A client-credentials token (RFC 6749 §4.4), uncached."""
    form = {"grant_type": "client_credentials", "scope": " ".join(scopes)}
    return request_token(http, client, form, what=what, clock=clock)
