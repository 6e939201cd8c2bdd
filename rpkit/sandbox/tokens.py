"""JWTs the sandbox issues (ID and access tokens) and checks (its own access tokens)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from .clock import SandboxClock
from .controls import Controls, apply_overrides
from .keys import KeyRing

__all__ = ["BACKCHANNEL_LOGOUT_EVENT", "InvalidAccessTokenError", "TokenService"]

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class InvalidAccessTokenError(Exception):
    """A bearer token is missing, malformed, badly signed, expired or not ours."""


class TokenService:
    """Sign and verify the sandbox's JWTs with the key ring and the sandbox clock."""

    def __init__(self, *, issuer: str, keys: KeyRing, clock: SandboxClock, controls: Controls):
        self.issuer = issuer
        self._keys = keys
        self._clock = clock
        self._controls = controls

    def _sign(self, claims: Mapping[str, Any], typ: str | None = None) -> str:
        key = self._keys.signing_key
        header: dict[str, Any] = {"alg": "RS256", "kid": key.kid}
        if typ:
            header["typ"] = typ
        return jwt.encode(header, dict(claims), key, algorithms=["RS256"])

    def issue_access_token(
        self, *, client_id: str, subject: str | None, scope: str, lifetime: int
    ) -> str:
        """Return an RS256 JWT access token (RFC 9068 profile; ``aud`` is the client)."""
        now = int(self._clock.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject or client_id,
            "aud": client_id,
            "client_id": client_id,
            "scope": scope,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(12),
        }
        claims = apply_overrides(claims, self._controls.take_next_claims("access_token"))
        return self._sign(claims, "at+jwt")

    def issue_id_token(
        self,
        *,
        client_id: str,
        user_claims: Mapping[str, Any],
        lifetime: int,
        nonce: str | None,
        auth_time: int | None,
        at_hash: str | None,
        sid: str | None = None,
    ) -> str:
        """Return an RS256 ID token (OIDC Core 1.0 §2) with the user's claims.

        ``sid`` is the IdP session (Back-Channel Logout 1.0 §3), when there is one.
        """
        now = int(self._clock.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "azp": client_id,
            "iat": now,
            "exp": now + lifetime,
            "auth_time": auth_time or now,
            **user_claims,
        }
        if nonce:
            claims["nonce"] = nonce
        if at_hash:
            claims["at_hash"] = at_hash
        if sid:
            claims["sid"] = sid
        claims = apply_overrides(claims, self._controls.take_next_claims("id_token"))
        return self._sign(claims)

    def issue_logout_token(
        self, *, client_id: str, subject: str, sid: str, lifetime: int
    ) -> tuple[str, str]:
        """Return an RS256 logout token (Back-Channel Logout 1.0 §2.4) and its ``jti``.

        No ``nonce``, by the spec; ``typ`` is ``logout+jwt`` (§2.4 recommends it).
        """
        now = int(self._clock.time())
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti,
            "sub": subject,
            "sid": sid,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        claims = apply_overrides(claims, self._controls.take_next_claims("logout_token"))
        return self._sign(claims, "logout+jwt"), str(claims.get("jti", jti))

    def validate_access_token(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid access token this sandbox issued."""
        try:
            decoded = jwt.decode(token, self._keys.verification_keys(), algorithms=["RS256"])
        except (JoseError, ValueError) as err:
            raise InvalidAccessTokenError("the access token is malformed or badly signed") from err
        claims = dict(decoded.claims)
        if decoded.header.get("typ") != "at+jwt":
            raise InvalidAccessTokenError("the token is not an access token")
        if claims.get("iss") != self.issuer:
            raise InvalidAccessTokenError("the access token was issued by someone else")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= self._clock.time():
            raise InvalidAccessTokenError("the access token has expired")
        return claims
