"""The ``oidc.*`` checks: TLS, discovery, issuer, JWKS, clock, client authentication, the
redirect URI and the scopes, in that order, each skipped when one it needs failed.

Nothing is changed at the provider and no token is issued: the token request carries a
made-up code (so a right secret earns ``invalid_grant``), and the authorization requests
stop at the provider's first answer, before any login.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from .._clock import Clock
from .._http import HttpClient, json_object
from ..config import OidcConfig
from ..errors import MetadataError, ProviderError, ProviderResponseError
from ..oauth import request_token
from ..oidc.authorize import start_login
from ..oidc.discovery import ProviderMetadata, parse_provider_metadata
from ..oidc.keys import key_weakness, parse_jwks
from ..oidc.tokens import client_config
from .report import CheckResult, fail
from .tls import check_tls

__all__ = ["CLOCK_WARNING", "run_oidc_checks"]

CLOCK_WARNING = 30.0  # seconds; past the leeway it fails

# Errors an authorization endpoint shows for a misconfigured request. Not access_denied:
# a login page may name it on its cancel button.
_OAUTH_ERRORS = (
    "invalid_request",
    "unauthorized_client",
    "invalid_client",
    "invalid_scope",
    "unsupported_response_type",
    "invalid_request_uri",
    "invalid_request_object",
)
_ERROR_IN_PAGE = re.compile(r"\b(" + "|".join(_OAUTH_ERRORS) + r")\b")


@dataclass
class _Found:
    """What earlier checks learnt, for the later ones."""

    document: dict[str, Any] | None = None
    metadata: ProviderMetadata | None = None
    date_header: str | None = None
    local_time: float = 0.0
    failed: set[str] = field(default_factory=set)


def _skip(check_id: str, why: str) -> CheckResult:
    return CheckResult(id=check_id, status="skip", message=why)


def run_oidc_checks(config: OidcConfig, *, ship: bool) -> list[CheckResult]:
    """Run every ``oidc.*`` check against ``config``'s provider."""
    http = HttpClient(config.http)
    found = _Found()
    results: list[CheckResult] = []
    steps: list[tuple[str, tuple[str, ...], Callable[[], CheckResult]]] = [
        ("oidc.tls", (), lambda: check_tls(config.issuer, config.http, ship=ship)),
        ("oidc.discovery", ("oidc.tls",), lambda: _discovery(config, http, found)),
        ("oidc.issuer", ("oidc.discovery",), lambda: _issuer(config, found, ship=ship)),
        ("oidc.jwks", ("oidc.discovery",), lambda: _jwks(config, http, found)),
        ("oidc.clock", ("oidc.discovery",), lambda: _clock(config, found)),
        ("oidc.client_auth", ("oidc.discovery",), lambda: _client_auth(config, http, found)),
        ("oidc.redirect_uri", ("oidc.discovery",), lambda: _redirect_uri(config, http, found)),
        ("oidc.scopes", ("oidc.redirect_uri",), lambda: _scopes(config, http, found)),
    ]
    for check_id, needs, run in steps:
        blocked = [n for n in needs if n in found.failed]
        if blocked:
            result = _skip(check_id, f"needs {', '.join(blocked)}, which did not pass")
        else:
            result = run()
        if result.status in ("fail", "skip"):
            found.failed.add(check_id)
        results.append(result)
    return results


# -- discovery, issuer, keys, clock -------------------------------------------------------


def _discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _discovery(config: OidcConfig, http: HttpClient, found: _Found) -> CheckResult:
    url = _discovery_url(config.issuer)
    before = time.time()
    try:
        response = http.request("GET", url, what="OIDC discovery")
    except ProviderError as err:
        return fail(
            "oidc.discovery",
            err.message,
            fix="check RPKIT_OIDC_ISSUER (or RPKIT_OIDC_SHIP_HOST) and that this machine reaches "
            "the identity server",
        )
    found.local_time = (before + time.time()) / 2
    found.date_header = response.headers.get("Date")
    if response.status_code != 200:
        return fail(
            "oidc.discovery",
            f"{url} answered HTTP {response.status_code}",
            fix="check RPKIT_OIDC_ISSUER: Dualog's issuers end in /auth "
            "(https://crew.dualog.com/auth, https://<ship host>/auth)",
        )
    try:
        document = json_object(response, "OIDC discovery")
    except ProviderResponseError as err:
        return fail("oidc.discovery", f"{url}: {err.message}")
    found.document = document
    actual = document.get("issuer")
    try:
        # Validated against the issuer it names itself; oidc.issuer compares it to ours.
        found.metadata = parse_provider_metadata(
            document,
            expected_issuer=actual if isinstance(actual, str) else config.issuer,
            http=config.http,
        )
    except MetadataError as err:
        return fail(
            "oidc.discovery",
            err.message,
            fix="the provider's discovery document is incomplete; report it to the provider",
        )
    origin = _origin(found.metadata.issuer)
    elsewhere = sorted(
        name
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "end_session_endpoint",
        )
        if isinstance(document.get(name), str) and _origin(document[name]) != origin
    )
    if elsewhere:
        return CheckResult(
            id="oidc.discovery",
            status="warn",
            message=f"{url} is valid, but {', '.join(elsewhere)} are not under the issuer "
            f"{found.metadata.issuer}",
            fix="check that this machine reaches those hosts too (proxy, firewall, ship LAN)",
        )
    return CheckResult(
        id="oidc.discovery",
        status="ok",
        message=f"{url}: JSON with every required field; endpoints under the issuer",
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _issuer(config: OidcConfig, found: _Found, *, ship: bool) -> CheckResult:
    assert found.document is not None
    actual = found.document.get("issuer")
    try:
        parse_provider_metadata(
            found.document, expected_issuer=config.issuer, http=config.http, ship_hint=ship
        )
    except MetadataError as err:
        hint = err.message.partition(f"{actual}: ")[2]
        return fail(
            "oidc.issuer",
            f"configured {config.issuer}, but the server calls itself {actual}",
            fix=hint or err.message,
        )
    return CheckResult(id="oidc.issuer", status="ok", message=f"exactly {config.issuer}")


def _jwks(config: OidcConfig, http: HttpClient, found: _Found) -> CheckResult:
    assert found.metadata is not None
    try:
        document = http.get_json(found.metadata.jwks_uri, what="JWKS")
    except ProviderError as err:
        return fail(
            "oidc.jwks", err.message, fix="check that this machine reaches the provider's jwks_uri"
        )
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        return fail(
            "oidc.jwks",
            f"{found.metadata.jwks_uri} publishes no keys",
            fix="the provider has no signing key published; report it to the provider",
        )
    kids = [k.get("kid") for k in raw_keys if isinstance(k, Mapping)]
    duplicates = sorted({str(k) for k in kids if k is not None and kids.count(k) > 1})
    if duplicates:
        return fail(
            "oidc.jwks",
            f"kid {', '.join(duplicates)} names more than one key",
            fix="the provider must give each key its own kid; report it to the provider",
        )
    weak = [
        f"{k.get('kid')}: {why}"
        for k in raw_keys
        if isinstance(k, Mapping) and (why := key_weakness(k)) is not None
    ]
    keys = parse_jwks(document)
    advertised = found.metadata.id_token_signing_alg_values_supported
    accepted = [a for a in config.id_token_signing_algs if not advertised or a in advertised]
    if not accepted:
        return fail(
            "oidc.jwks",
            f"the provider signs ID tokens with {', '.join(advertised)}; this app "
            f"accepts {', '.join(config.id_token_signing_algs)}",
            fix="set RPKIT_OIDC_ID_TOKEN_SIGNING_ALGS to include the provider's algorithm",
        )
    usable = {alg: len(keys.candidates(None, alg)) for alg in accepted}
    if not any(usable.values()):
        return fail(
            "oidc.jwks",
            f"no published key can verify {', '.join(accepted)}"
            + (f" (too weak: {'; '.join(weak)})" if weak else ""),
            fix="the provider must publish an RSA key of at least 2048 bits or an EC P-256/384/"
            "521 key; report it to the provider",
        )
    summary = f"{len(keys.keys)} usable key(s), kids unique; verifies " + ", ".join(
        a for a, n in usable.items() if n
    )
    if weak:
        return CheckResult(
            id="oidc.jwks",
            status="warn",
            message=f"{summary}; ignored as too weak: {'; '.join(weak)}",
            fix="ask the provider to retire the weak keys",
        )
    return CheckResult(id="oidc.jwks", status="ok", message=summary)


def _clock(config: OidcConfig, found: _Found) -> CheckResult:
    if not found.date_header:
        return _skip("oidc.clock", "the provider sent no Date header to compare with")
    try:
        provider = parsedate_to_datetime(found.date_header).timestamp()
    except (TypeError, ValueError):
        return _skip(
            "oidc.clock", f"the provider's Date header {found.date_header!r} is unreadable"
        )
    # The offset to configure is the provider's clock minus ours; what remains after the
    # configured one is what the leeway must absorb. Date has 1 s resolution.
    # Date is truncated to the second: its midpoint is the better estimate.
    offset = provider + 0.5 - found.local_time
    skew = offset - config.clock_offset.total_seconds()
    leeway = config.leeway.total_seconds()
    delta = round(offset)
    if delta == 0:
        text = "the provider's clock matches this machine's to the second"
    else:
        side = "ahead of" if delta > 0 else "behind"
        text = f"the provider's clock is {abs(delta)} s {side} this machine's"
    configured = config.clock_offset.total_seconds()
    if configured:
        text += f"; with RPKIT_OIDC_CLOCK_OFFSET={configured:g}, {abs(skew):.0f} s remain"
    text += f" (leeway {leeway:g} s)"
    fix = (
        f"sync both clocks (NTP), or set RPKIT_OIDC_CLOCK_OFFSET={round(offset)} "
        "(the provider's clock minus this machine's, in seconds)"
    )
    if abs(skew) > leeway:
        return fail("oidc.clock", text, fix=fix)
    if abs(skew) > CLOCK_WARNING:
        return CheckResult(id="oidc.clock", status="warn", message=text, fix=fix)
    return CheckResult(id="oidc.clock", status="ok", message=text)


# -- client authentication ----------------------------------------------------------------


def _client_auth(config: OidcConfig, http: HttpClient, found: _Found) -> CheckResult:
    assert found.metadata is not None
    secret_name = (
        "RPKIT_OIDC_CLIENT_PRIVATE_KEY"
        if config.token_endpoint_auth_method == "private_key_jwt"
        else "RPKIT_OIDC_CLIENT_SECRET"
    )
    # A code the provider never issued: a right client authentication earns invalid_grant
    # (RFC 6749 §5.2), a wrong one invalid_client; nothing is issued either way.
    form = {
        "grant_type": "authorization_code",
        "code": "rpkit-doctor-" + secrets.token_urlsafe(24),
        "redirect_uri": config.redirect_uri or "",
        "code_verifier": secrets.token_urlsafe(48),
    }
    method = config.token_endpoint_auth_method
    try:
        client = client_config(config, found.metadata.token_endpoint)
        request_token(http, client, form, what="token endpoint")
    except ProviderResponseError as err:
        error = err.error or f"HTTP {err.status}"
        if err.error == "invalid_grant":
            return CheckResult(
                id="oidc.client_auth",
                status="ok",
                message=f"client {config.client_id} authenticated ({method}): a made-up code "
                "was refused as invalid_grant",
            )
        if err.error == "invalid_client" or err.status == 401:
            return fail(
                "oidc.client_auth",
                f"the token endpoint refused client {config.client_id} ({error}, {method})",
                fix=f"set {secret_name} (and RPKIT_OIDC_CLIENT_ID) to the values of this "
                "integration in the Dualog portal; a secret rotated there must be rotated here",
            )
        if err.error == "unauthorized_client":
            return fail(
                "oidc.client_auth",
                f"client {config.client_id} may not use the authorization code grant",
                fix='set the integration\'s grant type to "Authorization Code" in the Dualog '
                "portal",
            )
        return CheckResult(
            id="oidc.client_auth",
            status="warn",
            message=f"the token endpoint answered {error} to a made-up code; client "
            "authentication could not be confirmed",
            fix=f"check {secret_name} and RPKIT_OIDC_TOKEN_ENDPOINT_AUTH_METHOD for this client",
        )
    except ProviderError as err:
        return fail(
            "oidc.client_auth",
            err.message,
            fix="check that this machine reaches the token endpoint",
        )
    return fail(
        "oidc.client_auth",
        "the token endpoint accepted a made-up authorization code",
        fix="this provider does not check codes: do not use it",
    )


# -- authorization requests ---------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    kind: str  # "login" (a login page or a redirect to one), "callback", "error"
    error: str | None = None
    detail: str = ""


def _authorize(
    config: OidcConfig, http: HttpClient, found: _Found, scopes: tuple[str, ...]
) -> _Answer:
    """Send the app's authorization request and read the first answer, following nothing."""
    assert found.metadata is not None
    url, _ = start_login(
        found.metadata,
        client_id=config.client_id,
        redirect_uri=config.redirect_uri or "",
        scopes=scopes,
        now=Clock().now(),
    )
    try:
        response = http.session.get(url, allow_redirects=False, timeout=http.timeout)
    except requests.RequestException as err:
        return _Answer(
            "error", None, f"the authorization endpoint is unreachable ({type(err).__name__})"
        )
    return _read_answer(response, url, config.redirect_uri or "")


def _read_answer(response: requests.Response, url: str, redirect_uri: str) -> _Answer:
    if 300 <= response.status_code < 400 and response.headers.get("Location"):
        location = urljoin(url, response.headers["Location"])
        target = urlsplit(location)
        back = urlsplit(redirect_uri)
        if (target.scheme, target.netloc, target.path) == (back.scheme, back.netloc, back.path):
            params = dict(parse_qsl(target.query)) | dict(parse_qsl(target.fragment))
            return _Answer("callback", params.get("error"), params.get("error_description", ""))
        # Duende sends errors it will not return to the app to its error page
        # (/home/error?errorId=...), and everything else to its login page.
        if "error" in target.path.lower():
            return _Answer("error", None, f"redirected to the provider's error page {target.path}")
        return _Answer("login")
    text = response.text[:20000]
    error: str | None = None
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            error = body["error"]
    if error is None:
        match = _ERROR_IN_PAGE.search(text)
        error = match.group(1) if match else None
    if response.status_code >= 400 or error is not None:
        return _Answer("error", error, f"HTTP {response.status_code}")
    return _Answer("login")


def _register_text(config: OidcConfig) -> str:
    text = f"sign-in redirect URI {config.redirect_uri}"
    if config.post_logout_redirect_uri:
        text += f", sign-out redirect URI {config.post_logout_redirect_uri}"
    return text


def _redirect_uri(config: OidcConfig, http: HttpClient, found: _Found) -> CheckResult:
    # Only "openid", so a refused scope cannot pass for a refused redirect URI.
    answer = _authorize(config, http, found, ("openid",))
    if answer.kind == "error":
        said = answer.error or answer.detail
        return fail(
            "oidc.redirect_uri",
            f"the provider refused the authorization request ({said}) for client "
            f"{config.client_id} and redirect URI {config.redirect_uri}",
            fix=f"register in the Dualog portal (Integrations, client {config.client_id}): "
            f"{_register_text(config)}; or set RPKIT_BASE_URL to the public URL registered "
            "there, and check RPKIT_OIDC_CLIENT_ID",
        )
    how = "its login page" if answer.kind == "login" else "a redirect back to the app"
    return CheckResult(
        id="oidc.redirect_uri",
        status="ok",
        message=f"the provider answered with {how}; registered in the portal must be: "
        f"{_register_text(config)}",
    )


def _scopes(config: OidcConfig, http: HttpClient, found: _Found) -> CheckResult:
    answer = _authorize(config, http, found, config.scopes)
    scopes = " ".join(config.scopes)
    if answer.error == "invalid_scope" or (answer.kind == "callback" and answer.error):
        return fail(
            "oidc.scopes",
            f"the provider refused the scopes {scopes} ({answer.error}"
            + (f", {answer.detail}" if answer.detail else "")
            + ")",
            fix="set RPKIT_OIDC_SCOPES to the scopes this client is allowed (e.g. "
            '"openid profile email crew.public"), or allow them for the integration in the '
            "Dualog portal (offline_access needs offline access allowed)",
        )
    if answer.kind == "error":
        return fail(
            "oidc.scopes",
            f"the provider refused the request with scopes {scopes} "
            f"({answer.error or answer.detail})",
            fix="check RPKIT_OIDC_SCOPES against the scopes allowed in the Dualog portal",
        )
    return CheckResult(id="oidc.scopes", status="ok", message=f"accepted: {scopes}")
