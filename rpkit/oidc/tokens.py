"""Token endpoint calls (RFC 6749 §4.1.3, §4.3, §4.4, §6) with Authlib's client authentication.

Requests go through rpkit's ``HttpClient`` (timeouts, CA, pinning, error mapping); Authlib
supplies the client authentication: ``client_secret_basic``, ``client_secret_post`` and
``private_key_jwt`` (RFC 7523 §2.2). Authlib's ``OAuth2Session`` is not used because it
keeps the last token on the session object, which is shared state across requests.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from authlib.integrations.requests_client.oauth2_session import OAuth2ClientAuth
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey

from .._http import HttpClient, error_from_response, json_object
from ..config import OidcConfig, load_client_private_key
from ..errors import ProviderResponseError
from .oauth_errors import classify_token_error

__all__ = ["TokenSet", "request_token"]

_EC_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_VSCHAR = re.compile(r"[\x20-\x7e]+")


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenSet:
    """A token endpoint response (RFC 6749 §5.1). Secrets are kept out of ``repr``."""

    access_token: str = field(repr=False)
    token_type: str
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] = ()

    def expires_within(self, seconds: float, *, now: float) -> bool:
        return self.expires_at is not None and self.expires_at - seconds <= now

    @classmethod
    def from_response(cls, body: Mapping[str, Any], *, now: float) -> TokenSet:
        """Parse a token response; a missing ``access_token`` or a non-Bearer type raises."""
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
        expires_at = None if expires_in is None else now + expires_in
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


def client_auth(config: OidcConfig, token_endpoint: str) -> OAuth2ClientAuth:
    """Authlib's requests auth for the configured token endpoint auth method."""
    method = config.token_endpoint_auth_method
    if method == "private_key_jwt":
        # Imported here, not by Authlib: it reads a str as an RSA PEM only, so a JWK JSON
        # or an EC key (both allowed by OidcConfig) failed with a bare ValueError.
        key = load_client_private_key(config.client_private_key or "")
        kid = config.client_private_key_id or key.kid
        alg = _EC_ALG.get(str(key.get("crv")), "ES256") if isinstance(key, ECKey) else "RS256"
        return OAuth2ClientAuth(
            config.client_id,
            key,
            PrivateKeyJWT(token_endpoint, headers={"kid": kid} if kid else None, alg=alg),
        )
    if method == "client_secret_basic":
        # RFC 6749 §2.3.1: form-urlencode (UTF-8) both before Basic encoding. Authlib sends
        # them raw, so a secret with "+", "%", ":" or non-ASCII failed at providers that
        # decode, as IdentityServer (Dualog) does.
        return OAuth2ClientAuth(
            quote_plus(config.client_id), quote_plus(config.client_secret or ""), method
        )
    return OAuth2ClientAuth(config.client_id, config.client_secret or "", method)


def request_token(
    http: HttpClient,
    config: OidcConfig,
    token_endpoint: str,
    form: Mapping[str, str],
    *,
    what: str,
    clock: Any = time.time,
) -> TokenSet:
    """POST ``form`` to the token endpoint and parse the answer.

    Raises:
        ProviderUnavailableError: network, timeout, 5xx, 429.
        InvalidGrantError: ``invalid_grant`` (the code, verifier or refresh token).
        ClientRejectedError: ``invalid_client`` and the other configuration errors.
        ProviderResponseError: another OAuth error body or a malformed token response.
    """
    data = dict(form)
    if config.token_endpoint_auth_method == "client_secret_post":
        data.setdefault("client_id", config.client_id)
    response = http.request(
        "POST",
        token_endpoint,
        what=what,
        data=data,
        headers={"Accept": "application/json"},
        auth=client_auth(config, token_endpoint),
    )
    sent = [data.get(k) for k in ("code", "code_verifier", "refresh_token", "password")]
    sent.append(config.client_secret)
    auth_method = config.token_endpoint_auth_method
    if response.status_code != 200:
        error = error_from_response(response, what, redact=sent)
        raise classify_token_error(error, auth_method=auth_method)
    body = json_object(response, what)
    if "error" in body:
        error = error_from_response(response, what, redact=sent)
        raise classify_token_error(error, auth_method=auth_method)
    return TokenSet.from_response(body, now=clock())
