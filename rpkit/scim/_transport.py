"""Bearer-token calls to the User API: token cache, one refresh on 401, retries.

Tokens come from client credentials (``rpkit.oauth``), either at a configured token URL or
from a ``ClientCredentialsSource`` such as an ``OidcClient`` (which finds the token endpoint
by discovery and caches the token itself). This package never imports ``rpkit.oidc``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypedDict, TypeVar, Unpack

import requests

from .._clock import Clock as _Clock
from .._clock import clock_from
from .._http import HttpClient, error_from_response, json_object
from ..errors import ConfigurationError, ProviderResponseError, ProviderUnavailableError
from ..oauth import ClientConfig, ClientCredentialsSource, TokenSet, request_client_credentials
from ._backoff import SharedBackoff
from .config import ScimConfig

__all__ = ["ACCEPT", "Transport", "TransportOptions", "list_pages"]

log = logging.getLogger("rpkit.scim")

_R = TypeVar("_R")

Sleep = Callable[[float], None]
# A ``rpkit._clock.Clock``, or the older form: epoch seconds.
Clock = _Clock | Callable[[], float]

# RFC 7644 §3.8 names application/scim+json; ASP.NET APIs (Dualog's stack) may answer or
# content-negotiate as plain application/json, so both are acceptable.
ACCEPT = "application/scim+json, application/json"


def scim_client_config(config: ScimConfig) -> ClientConfig:
    """The API client of ``config`` at its token URL (``client_secret_basic``).

    Raises:
        ConfigurationError: the client id or secret is missing.
    """
    if not config.client_id or not config.client_secret:
        raise ConfigurationError('SCIM needs "client_id" and "client_secret" (or an OidcClient)')
    return ClientConfig(
        token_endpoint=config.effective_token_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
    )


class _TokenSource:
    """A client-credentials token, cached until ``token_refresh_margin`` before expiry."""

    def __init__(
        self,
        config: ScimConfig,
        http: HttpClient,
        oidc: ClientCredentialsSource | None,
        clock: _Clock,
    ) -> None:
        self._config = config
        self._http = http
        self._oidc = oidc
        self._clock = clock
        self._lock = threading.Lock()
        self._token: TokenSet | None = None
        self._client: ClientConfig | None = None
        if oidc is None:
            self._client = scim_client_config(config)
        elif config.token_url is not None:
            raise ConfigurationError('set "token_url" or pass an OidcClient, not both')

    def get(self) -> str:
        """A valid access token, fetched if none is cached or it is about to expire."""
        if self._oidc is not None:
            return self._oidc.client_credentials((self._config.scope,)).access_token
        margin = self._config.token_refresh_margin.total_seconds()
        with self._lock:
            cached = self._token
            if cached is not None and not cached.expires_within(margin, now=self._clock.now()):
                return cached.access_token
            assert self._client is not None
            self._token = request_client_credentials(
                self._http,
                self._client,
                (self._config.scope,),
                what="SCIM client credentials",
                clock=self._clock,
            )
            return self._token.access_token

    def forget(self, token: str) -> None:
        """Drop ``token`` (the API answered 401 to it)."""
        if self._oidc is not None:
            self._oidc.forget_client_credentials((self._config.scope,))
            return
        with self._lock:
            if self._token is not None and self._token.access_token == token:
                self._token = None


class TransportOptions(TypedDict, total=False):
    """What a ``Transport`` (and so a ``ScimClient``) takes besides its config.

    ``oidc``: take client-credentials tokens from this source (an ``OidcClient``, which
    finds the token endpoint by discovery) instead of ``config.token_url``. ``http``: the
    HTTP client (one from ``config.http`` by default). ``sleep``: how to wait between
    retries (tests pass a recorder). ``clock``: epoch seconds, for token expiry. ``rng``:
    the source of backoff jitter.
    """

    oidc: ClientCredentialsSource | None
    http: HttpClient | None
    sleep: Sleep
    clock: Clock
    rng: random.Random | None


class Transport:
    """Sends User API requests with a bearer token; retries what is safe to retry."""

    def __init__(self, config: ScimConfig, **options: Unpack[TransportOptions]) -> None:
        unknown = options.keys() - TransportOptions.__optional_keys__
        if unknown:  # what a keyword-only signature would refuse
            raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
        self.config = config
        self.http = options.get("http") or HttpClient(config.http)
        self.sleep = options.get("sleep", time.sleep)
        # One per client: every thread sharing this transport honours a 429/Retry-After.
        self.backoff = SharedBackoff(self.sleep)
        clock = clock_from(options.get("clock"))
        self._tokens = _TokenSource(config, self.http, options.get("oidc"), clock)
        # Jitter only, not a secret.
        self._rng = options.get("rng") or random.Random()  # noqa: S311

    def delay_for(self, attempt: int, err: ProviderUnavailableError) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based) after ``err``.

        ``Retry-After`` wins when the server sent one (RFC 9110 §10.2.3); otherwise
        exponential backoff with jitter, capped at ``max_backoff``.

        Raises:
            ProviderUnavailableError: ``err`` itself, when Retry-After exceeds
                ``max_retry_after``.
        """
        if err.retry_after is not None:
            if err.retry_after > self.config.max_retry_after.total_seconds():
                raise err
            return float(err.retry_after)
        base = self.config.backoff.total_seconds() * (2.0 ** (attempt - 1))
        capped = min(base, self.config.max_backoff.total_seconds())
        return capped / 2 + self._rng.uniform(0, capped / 2)

    def wait_to_retry(self, attempt: int, err: ProviderUnavailableError, what: str) -> None:
        """Wait before retry number ``attempt`` after ``err``.

        A 429 or a ``Retry-After`` pauses every thread using this transport (the server
        asked the client to slow down); other failures back off only the caller.

        Raises:
            ProviderUnavailableError: ``err`` itself, when Retry-After exceeds
                ``max_retry_after``.
        """
        delay = self.delay_for(attempt, err)
        log.warning("%s failed (%s); retry %d in %.1fs", what, err.message, attempt, delay)
        if err.status == 429 or err.retry_after is not None:
            self.backoff.pause(delay)
        else:
            self.sleep(delay)

    def send_once(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> requests.Response:
        """One request (plus one resend with a new token after a 401); no other retry.

        Waits first while another thread pauses for a 429/Retry-After.
        """

        def send(token: str) -> requests.Response:
            headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
            return self.http.request(
                method, url, what=what, params=params, json_body=json_body, headers=headers
            )

        self.backoff.wait()
        token = self._tokens.get()
        response = send(token)
        if response.status_code == 401:
            # Dualog: "refresh tokens when encountering 401 errors with expired tokens";
            # the token may also have been revoked. Once, so a bad client cannot loop.
            log.info("%s: HTTP 401, fetching a new token and retrying once", what)
            self._tokens.forget(token)
            response = send(self._tokens.get())
        return response

    def retrying(
        self,
        what: str,
        attempt: Callable[[int], _R],
        *,
        look: Callable[[], _R | None] | None = None,
    ) -> _R:
        """Run ``attempt(n)`` (``n`` counts the retries so far) until it returns, retrying
        on a retryable ``ProviderUnavailableError`` up to ``max_retries`` times, never on a
        TLS trust failure or an answer over the size cap (the same on every attempt, and
        retrying a trust failure would knock on an impostor's door again).

        ``look``: for a call whose outcome a failure leaves unknown (a POST), what finds
        its result; asked after each wait and once more before giving up, and what it
        finds is returned instead of sending again.

        Raises:
            ProviderUnavailableError: the last failure, when the retries are used up.
        """
        retries = 0
        while True:
            try:
                return attempt(retries)
            except ProviderUnavailableError as err:
                if not err.retryable:
                    raise
                retries += 1
                if retries <= self.config.max_retries:
                    self.wait_to_retry(retries, err, what)
                found = look() if look is not None else None
                if found is not None:
                    return found
                if retries > self.config.max_retries:
                    raise

    def call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        ok: tuple[int, ...] = (200,),
        parse: bool = True,
        missing_ok_on_retry: bool = False,
        redact: tuple[str | None, ...] = (),
    ) -> dict[str, Any] | None:
        """An idempotent call, retried on network errors, timeouts, 5xx, 429 and bodies
        cut short, never on a TLS trust failure or an answer over the size cap; return the
        JSON object (or None when ``parse`` is False).

        ``missing_ok_on_retry``: a 404 after a retry means an earlier attempt succeeded
        (a DELETE whose answer was lost), so it counts as success. ``redact`` lists what
        the body carried that must not reach an error message (a password).

        Raises:
            ProviderUnavailableError: still failing after ``max_retries`` retries.
            ProviderResponseError: a 4xx (with Dualog's ``correlationId``) or a bad body.
        """

        def attempt(retries: int) -> dict[str, Any] | None:
            response = self.send_once(method, url, what=what, params=params, json_body=json_body)
            if response.status_code == 404 and missing_ok_on_retry and retries > 0:
                return None
            if response.status_code not in ok:
                raise error_from_response(response, what, redact=redact)
            return readable_json(response, what) if parse else None

        return self.retrying(what, attempt)


def readable_json(response: requests.Response, what: str) -> dict[str, Any]:
    """The JSON object of a success answer; a garbled one is retryable, not a 4xx.

    A truncated or garbled body may hide a call that worked: callers retry an
    idempotent call, or look the resource up before resending a POST.
    """
    try:
        return json_object(response, what)
    except ProviderResponseError as err:
        raise ProviderUnavailableError(
            f"{what}: unreadable response body (HTTP {response.status_code})",
            status=response.status_code,
        ) from err


def list_pages(
    transport: Transport, url: str, resource: str, *, filter: str | None, count: int
) -> Iterator[Mapping[str, Any]]:
    """Every resource of a list, page by page (RFC 7644 §3.4.2.4).

    The next ``startIndex`` advances by the resources actually received, not by
    ``count``, so a server that under-fills pages (or caps ``count``) loses nothing;
    an empty page or one that goes backwards ends the listing instead of looping.
    """
    start = 1
    seen: set[str] = set()
    while True:
        params = {"startIndex": str(start), "count": str(count)}
        if filter is not None:
            params["filter"] = filter
        page = transport.call("GET", url, what=f"SCIM list {resource}", params=params)
        assert page is not None
        total = page.get("totalResults")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise ProviderResponseError(f'SCIM list {resource}: no valid "totalResults"')
        items = page.get("Resources") or []
        if not isinstance(items, list):
            raise ProviderResponseError(f'SCIM list {resource}: "Resources" is not a list')
        answered_start = page.get("startIndex", start)
        if isinstance(answered_start, int) and 1 < start and answered_start < start and items:
            raise ProviderResponseError(
                f"SCIM list {resource}: asked for startIndex {start}, got {answered_start}"
            )
        per_page = page.get("itemsPerPage")
        if isinstance(per_page, int) and per_page != len(items):
            # Seen in the wild: itemsPerPage echoes "count" while fewer resources come.
            log.debug(
                "SCIM list %s: itemsPerPage %s but %d resources at startIndex %d",
                resource,
                per_page,
                len(items),
                start,
            )
        for item in items:
            if not isinstance(item, Mapping):
                raise ProviderResponseError(f"SCIM list {resource}: a resource is not an object")
            # Entries can shift between pages when others change the list meanwhile.
            ident = item.get("id")
            if isinstance(ident, str):
                if ident in seen:
                    continue
                seen.add(ident)
            yield item
        start += len(items)
        if not items or start > total:
            return
