"""Logout: RP-initiated (OIDC RP-Initiated Logout 1.0), front-channel (OIDC Front-Channel
Logout 1.0 §2) and back-channel (OIDC Back-Channel Logout 1.0 §2.6).

Front-channel requests are rejected with ``CallbackError`` reasons ``frontchannel_params``
(``iss`` or ``sid`` missing or malformed) and ``iss_mismatch``.

Back-channel logout tokens are rejected with ``TokenError`` reasons: ``malformed``,
``alg``, ``signature``, ``unknown_kid``, ``weak_key``, ``issuer``, ``audience``, ``iat``,
``expired``, ``typ``, ``events``, ``nonce``, ``sub_or_sid``, ``jti``, ``replay``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..errors import CallbackError, MetadataError, TokenError
from ._jwt import verify_jwt
from .discovery import ProviderMetadata
from .keys import SigningKeys

__all__ = [
    "BACKCHANNEL_LOGOUT_EVENT",
    "LogoutToken",
    "end_session_url",
    "validate_frontchannel_logout",
    "validate_logout_return",
    "validate_logout_token",
]

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def end_session_url(
    metadata: ProviderMetadata,
    *,
    client_id: str,
    id_token_hint: str | None,
    post_logout_redirect_uri: str | None,
    state: str | None,
) -> str:
    """Build the provider's end-session URL (RP-Initiated Logout 1.0 §2).

    Raises:
        MetadataError: the provider publishes no ``end_session_endpoint``; log out locally.
    """
    if not metadata.end_session_endpoint:
        raise MetadataError("the provider has no end_session_endpoint; log out locally only")
    params: dict[str, str] = {"client_id": client_id}
    if id_token_hint:
        params["id_token_hint"] = id_token_hint
    if post_logout_redirect_uri:
        params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state:
            params["state"] = state
    parts = urlsplit(metadata.end_session_endpoint)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def validate_frontchannel_logout(params: Mapping[str, str], *, issuer: str) -> str:
    """Return the ``sid`` a front-channel logout request names (Front-Channel Logout 1.0 §2).

    The provider loads the RP's front-channel URI in a hidden iframe, where the RP's cookies
    are usually missing (third-party context), so the request itself must name the provider
    session: ``iss`` (exactly our issuer) and ``sid`` are both required. The ``sid`` is an
    unguessable value from the ID token; knowing it is what authorises ending its sessions.

    Raises:
        CallbackError: ``frontchannel_params`` or ``iss_mismatch``.
    """
    iss = params.get("iss")
    sid = params.get("sid")
    if not iss or not sid:
        raise CallbackError(
            "frontchannel_params", 'front-channel logout needs both "iss" and "sid"'
        )
    if len(sid) > 256 or not sid.isprintable():
        raise CallbackError("frontchannel_params", 'front-channel logout "sid" is malformed')
    if iss != issuer:
        raise CallbackError(
            "iss_mismatch", f'front-channel logout "iss" is {iss[:100]!r}, expected {issuer!r}'
        )
    return sid


def validate_logout_return(params: Mapping[str, str], *, expected_state: str | None) -> None:
    """Check the redirect back to ``post_logout_redirect_uri``.

    Tolerant by design: the local session is already gone before the redirect, and many
    providers drop ``state``. A *different* state is refused, because it means the redirect
    was not the answer to our request.

    Raises:
        CallbackError: ``state_mismatch``.
    """
    state = params.get("state")
    if state is None or expected_state is None:
        return
    if not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise CallbackError("state_mismatch", "the logout return state does not match")


@dataclass(frozen=True, kw_only=True, slots=True)
class LogoutToken:
    """A validated back-channel logout token: end sessions by ``sid`` or ``sub``."""

    raw: str = field(repr=False)
    issuer: str
    subject: str | None
    session_id: str | None
    jti: str
    claims: Mapping[str, Any]


def validate_logout_token(
    token: str,
    *,
    keys: SigningKeys,
    issuer: str,
    client_id: str,
    algorithms: tuple[str, ...],
    now: float,
    leeway: timedelta = timedelta(seconds=60),
    max_age: timedelta = timedelta(minutes=5),
    client_secret: str | None = None,
) -> LogoutToken:
    """Validate a back-channel logout token (Back-Channel Logout 1.0 §2.6).

    Replay (``jti`` seen before) is the caller's to check with its store.
    """
    header, claims = verify_jwt(
        token,
        keys=keys,
        algorithms=algorithms,
        error=TokenError,
        what="logout token",
        secret=client_secret,
    )
    typ = header.get("typ")
    # §2.4 recommends typ logout+jwt; older IdentityServer releases send plain JWT, which is
    # accepted because the events claim and the nonce ban below already keep an ID token
    # from passing as a logout token. Any other explicit type (at+jwt...) is refused.
    if typ is not None and str(typ).lower() not in ("logout+jwt", "application/logout+jwt", "jwt"):
        raise TokenError("typ", f"logout token typ {typ!r} is not logout+jwt")
    if claims.get("iss") != issuer:
        raise TokenError("issuer", f'logout token "iss" is {claims.get("iss")!r}, not {issuer!r}')
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or client_id not in audiences:
        raise TokenError("audience", 'logout token "aud" does not contain this client')
    slack = leeway.total_seconds()
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise TokenError("iat", 'logout token "iat" is missing')
    if iat > now + slack or iat < now - max_age.total_seconds() - slack:
        raise TokenError("iat", 'logout token "iat" is outside the accepted window')
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or now - slack >= exp):
        raise TokenError("expired", "logout token has expired")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise TokenError("events", "logout token has no back-channel logout event")
    if "nonce" in claims:
        # §2.4: a nonce marks an ID token; refusing it stops ID-token substitution.
        raise TokenError("nonce", "logout token must not contain a nonce")
    sub = claims.get("sub")
    sid = claims.get("sid")
    if not (isinstance(sub, str) and sub) and not (isinstance(sid, str) and sid):
        raise TokenError("sub_or_sid", 'logout token has neither "sub" nor "sid"')
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise TokenError("jti", 'logout token has no "jti"')
    return LogoutToken(
        raw=token,
        issuer=issuer,
        subject=sub if isinstance(sub, str) and sub else None,
        session_id=sid if isinstance(sid, str) and sid else None,
        jti=jti,
        claims=claims,
    )
