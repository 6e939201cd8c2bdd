"""The one home of ``requests``: timeouts, trust, proxies, and HTTP failures as rpkit errors.

Every outbound call rpkit makes goes through a session built here, so a CA bundle, a
pinned certificate, proxies and timeouts configured for a provider apply to all of it:
discovery, JWKS, token, userinfo, SAML metadata and SCIM.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import requests
from requests.adapters import HTTPAdapter

from .config import HttpConfig, check_transport
from .errors import (
    ConfigurationError,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailableError,
)

__all__ = ["HttpClient", "build_session", "parse_retry_after"]

log = logging.getLogger("rpkit.http")


class _PinnedAdapter(HTTPAdapter):
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
    """Apply ``config`` (trust, proxies, user agent) to ``session`` or a new one."""
    session = session if session is not None else requests.Session()
    session.trust_env = False  # proxies and CA come from config, not ambient env vars
    session.headers["User-Agent"] = config.user_agent
    if config.proxies:
        session.proxies.update(dict(config.proxies))
    if config.pinned_cert_sha256:
        session.mount("https://", _PinnedAdapter(config.pinned_cert_sha256))
    elif config.ca_bundle:
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


class HttpClient:
    """A configured session plus the mapping of HTTP failures into the rpkit error tree."""

    def __init__(self, config: HttpConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.session = build_session(config, session)
        self.timeout = (config.connect_timeout.total_seconds(), config.timeout.total_seconds())

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
    ) -> requests.Response:
        """Send one request; raise ``ProviderUnavailableError`` for network, 5xx and 429.

        4xx responses are returned for the caller to interpret, because their bodies
        (OAuth errors, SCIM errors) differ by protocol.
        """
        try:
            check_transport(url, what, self.config)
        except ConfigurationError as err:
            raise ProviderError(err.message) from err
        try:
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
            )
        except requests.Timeout as err:
            raise ProviderUnavailableError(f"{what}: {url} timed out") from err
        except requests.exceptions.SSLError as err:
            raise ProviderUnavailableError(
                f"{what}: TLS to {url} failed ({_short(err)}); check ca_bundle or the pinned "
                "certificate"
            ) from err
        except requests.RequestException as err:
            raise ProviderUnavailableError(f"{what}: {url} unreachable ({_short(err)})") from err
        correlation_id = correlation_id_of(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderUnavailableError(
                f"{what}: {url} answered HTTP {response.status_code}",
                status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                correlation_id=correlation_id,
            )
        if 300 <= response.status_code < 400:
            # Redirects are not followed: a redirected token or JWKS call is a
            # misconfiguration, and following it could leak credentials to another host.
            raise ProviderResponseError(
                f"{what}: {url} redirected (HTTP {response.status_code}); configure the final URL",
                status=response.status_code,
                correlation_id=correlation_id,
            )
        return response

    def get_json(
        self, url: str, *, what: str, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """GET a JSON object; any non-200 or a non-object body raises."""
        response = self.request("GET", url, what=what, headers=headers)
        if response.status_code != 200:
            raise error_from_response(response, what)
        return json_object(response, what)


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


def _short(err: Exception) -> str:
    # requests' messages embed the URL with its query; the URL is already in our message
    # and a query may carry a code, so keep only the exception type.
    return type(err).__name__
