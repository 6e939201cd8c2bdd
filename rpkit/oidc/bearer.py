"""Validate JWT access tokens presented to an API (RFC 9068, RFC 6750).

Fail closed: a token is accepted only when it was minted for this API, i.e. its ``aud``
names one of the configured audiences or its ``client_id`` is one of the allowed clients.
With neither configured there is nothing to compare against, and building the
expectations raises ``ConfigurationError`` (``allow_any_audience`` is the named opt-out).

``TokenError`` reasons: ``malformed``, ``alg``, ``signature``, ``unknown_kid``, ``no_key``,
``kid_ambiguous``, ``weak_key``, ``issuer``, ``audience``, ``expired``, ``not_yet_valid``,
``iat``, ``typ``, ``scope``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from joserfc.util import urlsafe_b64decode

from ..errors import ConfigurationError, TokenError
from ._jwt import verify_jwt
from .keys import SigningKeys

__all__ = [
    "AUDIENCE_NOT_CONFIGURED",
    "AccessToken",
    "ExpectedAccessToken",
    "unverified_issuer",
    "validate_access_token",
]

AUDIENCE_NOT_CONFIGURED = (
    "bearer tokens cannot be checked: set the API audience "
    '("access_token_audience", RPKIT_OIDC_ACCESS_TOKEN_AUDIENCE) or the clients whose tokens '
    'this API accepts ("access_token_client_ids", RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS); '
    'only if every token the provider issues may call this API, set "allow_any_audience" '
    "(RPKIT_OIDC_ALLOW_ANY_AUDIENCE)"
)

# RFC 9068 §2.1: "at+jwt"; §4: compare case-insensitively, with or without "application/".
_ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
# What providers that do not type access tokens put there (allow_untyped_access_tokens).
_UNTYPED = (None, "jwt", "application/jwt")


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessToken:
    """A validated access token."""

    raw: str = field(repr=False)
    issuer: str
    subject: str | None
    client_id: str | None
    scopes: tuple[str, ...]
    claims: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class ExpectedAccessToken:
    """What an access token must say to be accepted by this API.

    ``audiences`` (any one in ``aud``) or ``client_ids`` (the ``client_id`` claim) must be
    set, unless ``allow_any_audience``; either one matching is enough.

    Raises:
        ConfigurationError: neither is set and ``allow_any_audience`` is off.
    """

    issuer: str
    algorithms: tuple[str, ...]
    audiences: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()
    allow_any_audience: bool = False
    allow_untyped_access_tokens: bool = False
    leeway: timedelta = timedelta(seconds=60)
    required_scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.audiences and not self.client_ids and not self.allow_any_audience:
            raise ConfigurationError(AUDIENCE_NOT_CONFIGURED)


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
    token: str, *, keys: SigningKeys, expected: ExpectedAccessToken, now: float
) -> AccessToken:
    """Validate a JWT access token issued by ``expected.issuer`` (chosen from the allowlist).

    Raises:
        TokenError: with the ``reason`` of the first rule that failed.
    """
    header, claims = verify_jwt(
        token, keys=keys, algorithms=expected.algorithms, error=TokenError, what="access token"
    )
    _check_typ(header.get("typ"), allow_untyped=expected.allow_untyped_access_tokens)
    if "nonce" in claims:
        # An ID token carries a nonce; access tokens do not. Refuse ID-token substitution
        # even when untyped tokens are allowed.
        raise TokenError("typ", "an ID token is not an access token")
    if claims.get("iss") != expected.issuer:
        raise TokenError(
            "issuer", f'access token "iss" is {claims.get("iss")!r}, not {expected.issuer!r}'
        )
    client_id = claims.get("client_id")
    if not expected.allow_any_audience:
        _check_audience(claims.get("aud"), client_id, expected)
    slack = expected.leeway.total_seconds()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or now - slack >= exp:
        raise TokenError("expired", "access token has expired or has no exp")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf > now + slack:
        raise TokenError("not_yet_valid", "access token is not valid yet")
    iat = claims.get("iat")
    if isinstance(iat, int | float) and iat > now + slack:
        raise TokenError("iat", 'access token "iat" is in the future')
    scopes = _scopes(claims)
    missing = [s for s in expected.required_scopes if s not in scopes]
    if missing:
        raise TokenError("scope", f"access token lacks scope {', '.join(missing)}")
    sub = claims.get("sub")
    return AccessToken(
        raw=token,
        issuer=expected.issuer,
        subject=sub if isinstance(sub, str) else None,
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=scopes,
        claims=claims,
    )


def _check_typ(typ: Any, *, allow_untyped: bool) -> None:
    value = typ.lower() if isinstance(typ, str) else typ
    if value in _ACCESS_TOKEN_TYPES:
        return
    if allow_untyped and value in _UNTYPED:
        return
    if value in (None, "jwt", "application/jwt"):
        # ID tokens are typed JWT or not at all (RFC 9068 §4: refuse them here).
        raise TokenError(
            "typ",
            'access token is not typed "at+jwt" (RFC 9068); set allow_untyped_access_tokens '
            "for a provider that does not type its access tokens",
        )
    raise TokenError("typ", f'access token typ {str(typ)[:40]!r} is not "at+jwt"')


def _check_audience(aud: Any, client_id: Any, expected: ExpectedAccessToken) -> None:
    audiences = [aud] if isinstance(aud, str) else aud
    if aud is not None and (
        not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences)
    ):
        raise TokenError("audience", 'access token "aud" is malformed')
    if audiences and any(a in expected.audiences for a in audiences):
        return
    if isinstance(client_id, str) and client_id in expected.client_ids:
        return
    wanted = [f'"aud" containing {a!r}' for a in expected.audiences]
    wanted += [f'"client_id" {c!r}' for c in expected.client_ids]
    raise TokenError(
        "audience", f"access token was not issued for this API (want {' or '.join(wanted)})"
    )


def _scopes(claims: Mapping[str, Any]) -> tuple[str, ...]:
    # RFC 9068 §2.2.3 says a space-separated string; IdentityServer sends a JSON array
    # unless EmitScopesAsSpaceDelimitedStringInJwt is set. Accept both, nothing else.
    raw = claims.get("scope", claims.get("scp"))
    if raw is None:
        return ()
    if isinstance(raw, str):
        return tuple(raw.split())
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return tuple(raw)
    raise TokenError("malformed", 'access token "scope" is neither a string nor a string array')
