"""The one home of ``requests``: deadlines, size caps, trust, proxies, failures as errors.

Every outbound call rpkit makes goes through :class:`HttpClient`, so a CA bundle, a pinned
certificate, proxies, the deadline and the size caps configured for a provider apply to
all of it: discovery, JWKS, token, userinfo, SAML metadata and SCIM.

One deadline (``HttpConfig.timeout``) bounds a whole call: connecting, the TLS handshake,
the headers and the entire body. ``requests``' own timeout applies to each socket read,
so a server that drips one byte a second would never trip it; here a watchdog shuts the
socket down when the deadline passes. The body is streamed and counted, and reading stops
at the cap (``max_response_bytes``, SAML metadata ``max_metadata_bytes``). Every failure
is a ``ProviderUnavailableError`` whose ``reason`` says what happened
(:data:`FAILURE_REASONS`); :func:`failure_reason` classifies any network or TLS exception.

Owns: ``requests`` and every outbound call: deadlines, size caps, trust, proxies, error
bodies.
Must not import: a protocol (``oidc``, ``saml``, ``scim``), the store or a web layer (floor
1).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .config import HttpConfig, check_transport
from .errors import (
    ConfigurationError,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from .reasons import REASONS

__all__ = [
    "FAILURE_REASONS",
    "HttpClient",
    "build_session",
    "failure_reason",
    "parse_retry_after",
]

log = logging.getLogger("rpkit.http")

#: ``ProviderUnavailableError.reason`` -> what happened, in words (``rpkit.reasons``).
FAILURE_REASONS: Mapping[str, str] = MappingProxyType(
    {code: reason.cause for code, reason in REASONS["ProviderUnavailableError"].items()}
)
# What to change, by reason, naming the variables an operator sets.
_ADVICE = {
    code: reason.fix.replace("`", "")
    for code, reason in REASONS["ProviderUnavailableError"].items()
}

# OpenSSL X509_V_ERR_* codes (x509_vfy.h) -> reason.
_TLS_VERIFY_CODES = {
    2: "tls_unknown_issuer",  # UNABLE_TO_GET_ISSUER_CERT
    9: "tls_not_yet_valid",  # CERT_NOT_YET_VALID
    10: "tls_expired",  # CERT_HAS_EXPIRED
    18: "tls_self_signed",  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: "tls_unknown_issuer",  # SELF_SIGNED_CERT_IN_CHAIN: an untrusted root sent along
    20: "tls_unknown_issuer",  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: "tls_unknown_issuer",  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    62: "tls_hostname",  # HOSTNAME_MISMATCH
    64: "tls_hostname",  # IP_ADDRESS_MISMATCH
}


def _exception_chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and every exception it wraps: causes, contexts, urllib3's ``reason``."""
    seen: set[int] = set()
    todo = [err]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [a for a in current.args if isinstance(a, BaseException)]
        todo.extend(e for e in linked if isinstance(e, BaseException))


def failure_reason(err: BaseException) -> str:
    """The :data:`FAILURE_REASONS` code of a network or TLS exception (requests, urllib3,
    ssl or socket), read from the whole chain of exceptions it wraps."""
    chain = list(_exception_chain(err))
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return _TLS_VERIFY_CODES.get(e.verify_code, "tls")
    for e in chain:
        if isinstance(e, ssl.SSLError | urllib3.exceptions.SSLError):
            # urllib3 checks a pinned fingerprint itself, after the handshake.
            return "tls_pin_mismatch" if "ingerprint" in str(e) else "tls"
    for e in chain:
        if isinstance(e, urllib3.exceptions.NameResolutionError | socket.gaierror):
            return "dns"
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return "connection_refused"
    for e in chain:
        if isinstance(e, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
            return "timeout"
    return "connection"


_watch = threading.local()


class _Deadline:
    """Shuts down the sockets of one call when its deadline passes.

    The connections register themselves (``connect``, ``request``) while the call runs in
    this thread; a timer thread shuts their sockets down, which ends any blocked read.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.passed = False
        self._lock = threading.Lock()
        self._connections: list[HTTPConnection] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        _watch.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _watch.deadline = None

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            passed = self.passed
        if passed:
            _shut(connection)

    def _expire(self) -> None:
        with self._lock:
            self.passed = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


def _shut(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is None:
        return
    try:
        # The plain socket's shutdown, also for an SSLSocket: it ends the reader's blocked
        # recv without touching the TLS object that thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _WatchedConnection(HTTPConnection):
    def connect(self) -> None:
        deadline: _Deadline | None = getattr(_watch, "deadline", None)
        if deadline is not None:
            deadline.watch(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline: _Deadline | None = getattr(_watch, "deadline", None)
        if deadline is not None:
            deadline.watch(self)  # a kept-alive connection is not connected again
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """An adapter whose connections obey the deadline of the call that uses them."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


class _PinnedAdapter(_DeadlineAdapter):
    """Trust exactly one server certificate, by SHA-256 fingerprint of its DER form."""

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint
        super().__init__()

    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, typed_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pool_kwargs: dict[str, Any] = dict(typed_kwargs)
        # The fingerprint replaces chain and hostname checks: a ship server's
        # self-signed certificate on a bare IP passes neither, and pinning is stricter.
        pool_kwargs["cert_reqs"] = "CERT_NONE"
        pool_kwargs.pop("ca_certs", None)
        pool_kwargs.pop("ca_cert_dir", None)
        pool_kwargs["assert_hostname"] = False
        pool_kwargs["assert_fingerprint"] = self._fingerprint
        return dict(host_params), pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # requests calls this on every send and, with the session's verify=True, would put
        # CERT_REQUIRED and the default CA bundle back on the connection, so a pinned
        # self-signed certificate failed the chain check. The pin is checked by urllib3.
        super().cert_verify(conn, url, False, cert)  # type: ignore[no-untyped-call]


def build_session(config: HttpConfig, session: requests.Session | None = None) -> requests.Session:
    """Apply ``config`` (trust, proxies, user agent, deadlines) to ``session`` or a new one."""
    session = session if session is not None else requests.Session()
    session.trust_env = False  # proxies and CA come from config, not ambient env vars
    session.headers["User-Agent"] = config.user_agent
    if config.proxies:
        session.proxies.update(dict(config.proxies))
    session.mount("http://", _DeadlineAdapter())
    if config.pinned_cert_sha256:
        session.mount("https://", _PinnedAdapter(config.pinned_cert_sha256))
    else:
        session.mount("https://", _DeadlineAdapter())
        if config.ca_bundle:
            session.verify = config.ca_bundle
    return session


def parse_retry_after(value: str | None) -> float | None:
    """Return ``Retry-After`` as seconds (delta-seconds form only; dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def _where(url: str) -> str:
    # Without the query: it may carry a code, and the reader needs the endpoint only.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class HttpClient:
    """A configured session plus the mapping of HTTP failures into the rpkit error tree."""

    def __init__(self, config: HttpConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.session = build_session(config, session)
        total = config.timeout.total_seconds()
        self.timeout = (min(config.connect_timeout.total_seconds(), total), total)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        max_bytes: int | None = None,
    ) -> requests.Response:
        """Send one request and read its whole answer within the deadline and the size cap.

        ``max_bytes`` defaults to ``max_response_bytes``. 4xx responses are returned (body
        read) for the caller to interpret, because their bodies (OAuth errors, SCIM
        errors) differ by protocol.

        Raises:
            ProviderUnavailableError: network, DNS, TLS, deadline, size cap, 5xx or 429;
                ``reason`` says which.
            ProviderResponseError: a redirect (not followed).
        """
        try:
            check_transport(url, what, self.config)
        except ConfigurationError as err:
            raise ProviderError(err.message) from err
        cap = self.config.max_response_bytes if max_bytes is None else max_bytes
        deadline = _Deadline(self.config.timeout.total_seconds())
        response: requests.Response | None = None
        try:
            with deadline:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    json=json_body,
                    headers=dict(headers or {}),
                    auth=auth,
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=True,
                )
                self._check_status(response, what, url)
                body = _read_capped(response, cap, what, url)
                if deadline.passed:  # a cut connection may look like the end of the body
                    raise _DeadlinePassed
        except _DeadlinePassed as err:
            raise self._deadline_error(what, url) from err
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            if deadline.passed:
                raise self._deadline_error(what, url) from err
            raise self._network_error(err, what, url) from err
        finally:
            if response is not None:
                response.close()
        response._content = body
        response._content_consumed = True  # type: ignore[attr-defined]
        return response

    def _check_status(self, response: requests.Response, what: str, url: str) -> None:
        correlation_id = correlation_id_of(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderUnavailableError(
                f"{what}: {_where(url)} answered HTTP {response.status_code}",
                reason="http_status",
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                correlation_id=correlation_id,
            )
        if 300 <= response.status_code < 400:
            # Redirects are not followed: a redirected token or JWKS call is a
            # misconfiguration, and following it could leak credentials to another host.
            raise ProviderResponseError(
                f"{what}: {_where(url)} redirected (HTTP {response.status_code}); configure "
                "the final URL",
                status=response.status_code,
                correlation_id=correlation_id,
            )

    def _deadline_error(self, what: str, url: str) -> ProviderUnavailableError:
        seconds = self.config.timeout.total_seconds()
        return ProviderUnavailableError(
            f"{what}: {_where(url)} did not answer in full within the {seconds:g} s deadline "
            f"(RPKIT_HTTP_TIMEOUT); {_ADVICE['deadline']}",
            reason="deadline",
        )

    def _network_error(self, err: BaseException, what: str, url: str) -> ProviderUnavailableError:
        reason = failure_reason(err)
        host = urlsplit(url).netloc
        text = f"{what}: {_where(url)}: {FAILURE_REASONS[reason]}"
        if reason == "timeout":
            text += f" (after {self.timeout[0]:g} s to connect, {self.timeout[1]:g} s to read)"
        elif reason == "dns":
            text = f"{what}: cannot resolve {urlsplit(url).hostname} (DNS)"
        elif reason.startswith("tls"):
            text = f"{what}: TLS to {host} failed: {FAILURE_REASONS[reason]}"
        return ProviderUnavailableError(f"{text}; {_ADVICE[reason]}", reason=reason)

    def get_json(
        self, url: str, *, what: str, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """GET a JSON object; any non-200 or a non-object body raises."""
        response = self.request("GET", url, what=what, headers=headers)
        if response.status_code != 200:
            raise error_from_response(response, what)
        return json_object(response, what)


class _DeadlinePassed(Exception):
    """The deadline passed while the body was read (internal)."""


def _read_capped(response: requests.Response, cap: int, what: str, url: str) -> bytes:
    """The whole body, refused as soon as it is known to exceed ``cap`` bytes (decoded)."""
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > cap:
        raise _too_large(what, url, cap, f"announces {int(declared)} bytes, over")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        size += len(chunk)
        if size > cap:
            raise _too_large(what, url, cap, "sent more than")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(what: str, url: str, cap: int, detail: str) -> ProviderUnavailableError:
    return ProviderUnavailableError(
        f"{what}: {_where(url)} {detail} the {cap}-byte cap; refused "
        "(RPKIT_HTTP_MAX_RESPONSE_BYTES, RPKIT_HTTP_MAX_METADATA_BYTES for SAML metadata)",
        reason="too_large",
    )


def correlation_id_of(response: requests.Response) -> str | None:
    header = response.headers.get("X-Correlation-Id") or response.headers.get("Request-Id")
    return header or None


def json_object(response: requests.Response, what: str) -> dict[str, Any]:
    """Parse a response body as a JSON object or raise ``ProviderResponseError``."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError) as err:
        raise ProviderResponseError(
            f"{what}: response is not JSON (HTTP {response.status_code})",
            status=response.status_code,
        ) from err
    if not isinstance(body, dict):
        raise ProviderResponseError(
            f"{what}: response is not a JSON object", status=response.status_code
        )
    return body


def error_from_response(
    response: requests.Response, what: str, *, redact: Iterable[str | None] = ()
) -> ProviderResponseError:
    """Build an error from an OAuth (RFC 6749 §5.2) or SCIM/Dualog error body.

    ``redact`` lists what the request carried (code, refresh token, password, secret):
    providers sometimes echo it in their error text, which must not reach messages or logs.
    """
    error: str | None = None
    description: str | None = None
    correlation_id = correlation_id_of(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = _str_or_none(body.get("error"))
        description = _str_or_none(body.get("error_description"))
        if error is None and body.get("title") is not None:  # Dualog/problem+json body
            error = _str_or_none(body.get("title"))
            description = _str_or_none(body.get("detail"))
        if error is None and body.get("scimType") is not None:
            error = _str_or_none(body.get("scimType"))
            description = _str_or_none(body.get("detail"))
        if error is None and body.get("detail") is not None:
            description = _str_or_none(body.get("detail"))
        correlation_id = _str_or_none(body.get("correlationId")) or correlation_id
    secrets = [s for s in redact if s]
    error, description = _redacted(error, secrets), _redacted(description, secrets)
    text = f"{what}: HTTP {response.status_code}"
    if error:
        text += f" {error}"
    if description:
        text += f": {description[:300]}"
    if correlation_id:
        text += f" (correlationId {correlation_id})"
    return ProviderResponseError(
        text,
        status=response.status_code,
        error=error,
        error_description=description,
        correlation_id=correlation_id,
    )


def _redacted(value: str | None, secrets: list[str]) -> str | None:
    if value is None:
        return None
    for secret in secrets:
        for form in (secret, quote(secret, safe=""), quote_plus(secret)):
            value = value.replace(form, "[redacted]")
    return value


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
