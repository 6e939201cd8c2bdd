"""Validate JWT access tokens presented to an API (RFC 9068, RFC 6750).

``TokenError`` reasons: ``malformed``, ``alg``, ``signature``, ``unknown_kid``, ``issuer``,
``audience``, ``expired``, ``not_yet_valid``, ``iat``, ``typ``, ``scope``, ``sub``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from joserfc.util import urlsafe_b64decode

from ..errors import TokenError
from ._jwt import verify_jwt
from .keys import SigningKeys

__all__ = ["AccessToken", "unverified_issuer", "validate_access_token"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessToken:
    """A validated access token."""

    raw: str = field(repr=False)
    issuer: str
    subject: str | None
    client_id: str | None
    scopes: tuple[str, ...]
    claims: Mapping[str, Any]


def unverified_issuer(token: str) -> str:
    """Read ``iss`` before verification, only to choose which issuer's keys to use."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(urlsafe_b64decode(payload.encode("ascii")))
    except (IndexError, ValueError, UnicodeError) as err:
        raise TokenError("malformed", "access token is not a JWT") from err
    iss = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(iss, str):
        raise TokenError("issuer", 'access token has no "iss"')
    return iss


def validate_access_token(
    token: str,
    *,
    keys: SigningKeys,
    issuer: str,
    audience: str | None,
    algorithms: tuple[str, ...],
    now: float,
    leeway: timedelta = timedelta(seconds=60),
    required_scopes: Collection[str] = (),
) -> AccessToken:
    """Validate a JWT access token issued by ``issuer`` (already chosen from the allowlist)."""
    header, claims = verify_jwt(
        token, keys=keys, algorithms=algorithms, error=TokenError, what="access token"
    )
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower() in ("logout+jwt", "application/logout+jwt"):
        raise TokenError("typ", "a logout token is not an access token")
    if claims.get("iss") != issuer:
        raise TokenError("issuer", f'access token "iss" is {claims.get("iss")!r}, not {issuer!r}')
    if audience is not None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or audience not in audiences:
            raise TokenError("audience", f'access token "aud" does not contain {audience!r}')
    if "nonce" in claims:
        # An ID token carries a nonce; access tokens do not. Refuse ID-token substitution.
        raise TokenError("typ", "an ID token is not an access token")
    slack = leeway.total_seconds()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or now - slack >= exp:
        raise TokenError("expired", "access token has expired or has no exp")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now + slack:
        raise TokenError("not_yet_valid", "access token is not valid yet")
    iat = claims.get("iat")
    if isinstance(iat, int | float) and iat > now + slack:
        raise TokenError("iat", 'access token "iat" is in the future')
    raw_scope = claims.get("scope", claims.get("scp", ()))
    if isinstance(raw_scope, str):
        scopes = tuple(raw_scope.split())
    elif isinstance(raw_scope, list):
        scopes = tuple(str(s) for s in raw_scope)
    else:
        scopes = ()
    missing = [s for s in required_scopes if s not in scopes]
    if missing:
        raise TokenError("scope", f"access token lacks scope {', '.join(missing)}")
    sub = claims.get("sub")
    client_id = claims.get("client_id")
    return AccessToken(
        raw=token,
        issuer=issuer,
        subject=sub if isinstance(sub, str) else None,
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=scopes,
        claims=claims,
    )
