"""Start a login (authorization request) and read the redirect back (authorization response).

``start_login`` makes a fresh ``LoginState`` (state, nonce, PKCE verifier) that the caller
stores server-side and hands back as ``expected=`` to ``parse_callback``: a forgotten
expectation is a ``TypeError``, not a skipped check. (``OidcClient`` stores it in
``rpkit._pending``, bound to the browser that started the login.)
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ..config import ResponseMode
from ..errors import AuthorizationDeniedError, CallbackError, ValidationError
from .discovery import ProviderMetadata

__all__ = ["LoginState", "ResponseMode", "parse_callback", "start_login"]

Prompt = Literal["none", "login", "consent", "select_account"]

_VSCHARS = re.compile(r"[\x20-\x7e]+")


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginState:
    """Everything the callback must match; store it server-side, keyed by ``state``.

    ``created_at`` is when the login started, an aware UTC ``datetime`` (this machine's
    time); ``browser_hash`` is the SHA-256 of the browser's binding cookie, ``return_to``
    the path on this site to go back to after the login.
    """

    issuer: str
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str = field(repr=False)
    scopes: tuple[str, ...]
    response_mode: ResponseMode = "query"
    max_age: int | None = None
    created_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    browser_hash: str = ""
    return_to: str = "/"


def start_login(
    metadata: ProviderMetadata,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    now: datetime,
    prompt: Prompt | None = None,
    max_age: int | None = None,
    login_hint: str | None = None,
    response_mode: ResponseMode = "query",
    extra: Mapping[str, str] | None = None,
    browser_hash: str = "",
    return_to: str = "/",
) -> tuple[str, LoginState]:
    """Build the authorization URL (code flow, PKCE S256 always) and its ``LoginState``.

    ``now``: when the login starts, an aware UTC ``datetime`` (``LoginState.created_at``).
    ``browser_hash``: see :class:`LoginState`; an empty one matches no browser.
    """
    state = generate_token(43)
    nonce = generate_token(43)
    # RFC 7636 §4.1: 43-128 characters from the unreserved set; generate_token uses that set.
    code_verifier = generate_token(64)
    params: dict[str, Any] = {
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(code_verifier),
        "code_challenge_method": "S256",
    }
    if response_mode != "query":
        params["response_mode"] = response_mode
    if prompt is not None:
        params["prompt"] = prompt
    if max_age is not None:
        params["max_age"] = str(max_age)
    if login_hint is not None:
        params["login_hint"] = login_hint
    for key, value in (extra or {}).items():
        if key in params or key in ("state", "client_id", "redirect_uri", "scope"):
            raise ValidationError(
                "extra", f"extra authorization parameter {key!r} would override rpkit's"
            )
        params[key] = value
    url = prepare_grant_uri(
        metadata.authorization_endpoint,
        client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=" ".join(scopes),
        state=state,
        **params,
    )
    login = LoginState(
        issuer=metadata.issuer,
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        nonce=nonce,
        code_verifier=code_verifier,
        scopes=scopes,
        response_mode=response_mode,
        max_age=max_age,
        created_at=now,
        browser_hash=browser_hash,
        return_to=return_to,
    )
    return url, login


def parse_callback(
    params: Mapping[str, str], *, expected: LoginState, metadata: ProviderMetadata
) -> str:
    """Return the authorization code from the redirect back, after every check.

    ``params`` is the query string (``response_mode=query``) or the form body
    (``form_post``).

    Raises:
        CallbackError: ``state_missing``, ``state_mismatch``, ``iss_mismatch``,
            ``iss_missing``, ``code_missing`` or ``code_malformed``.
        AuthorizationDeniedError: the provider answered ``error=`` (RFC 6749 §4.1.2.1).
    """
    state = params.get("state")
    if not state:
        raise CallbackError("state_missing", 'the callback has no "state"')
    # surrogatepass: a lone surrogate (from a lenient decoder upstream) is a mismatch,
    # not a UnicodeEncodeError.
    if not hmac.compare_digest(state.encode("utf-8", "surrogatepass"), expected.state.encode()):
        raise CallbackError("state_mismatch", 'the callback "state" does not match the login')
    # RFC 9207 §2.4: mix-up defence. Checked before error= too: an error page from
    # another provider must not be shown as ours.
    iss = params.get("iss")
    if iss is not None and iss != expected.issuer:
        raise CallbackError(
            "iss_mismatch", f'the callback "iss" is {iss!r}, expected {expected.issuer!r}'
        )
    if iss is None and metadata.authorization_response_iss_parameter_supported:
        raise CallbackError("iss_missing", 'the provider promises "iss" but the callback has none')
    error = params.get("error")
    if error:
        raise AuthorizationDeniedError(error[:100], (params.get("error_description") or "")[:300])
    code = params.get("code")
    if not code:
        raise CallbackError("code_missing", 'the callback has no "code"')
    if not _VSCHARS.fullmatch(code):
        # RFC 6749 Appendix A.11: code = 1*VSCHAR. Anything else is not a code the
        # provider issued, and cannot be sent on to the token endpoint as it came.
        raise CallbackError("code_malformed", 'the callback "code" is not printable ASCII')
    return code
