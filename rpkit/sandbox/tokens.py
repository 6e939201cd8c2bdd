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

__all__ = ["BACKCHANNEL_LOGOUT_EVENT", "InvalidAccessTokenError", "TokenService", "token_scopes"]

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def token_scopes(claims: Mapping[str, Any]) -> set[str]:
    """The scopes of an access token: a JSON array (Duende) or a space-delimited string."""
    scope = claims.get("scope")
    if isinstance(scope, list):
        return {s for s in scope if isinstance(s, str)}
    return set(str(scope or "").split())


def _audience(audiences: tuple[str, ...]) -> str | list[str]:
    # As .NET's JWT handler writes it: one audience as a string, several as an array.
    return audiences[0] if len(audiences) == 1 else list(audiences)


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
        self,
        *,
        client_id: str,
        subject: str | None,
        scope: str,
        lifetime: int,
        audiences: tuple[str, ...] = (),
        user_claims: Mapping[str, Any] | None = None,
        auth_time: int | None = None,
        sid: str | None = None,
    ) -> str:
        """Return an RS256 JWT access token shaped as Duende IdentityServer's.

        Header ``typ: at+jwt``; ``scope`` a JSON array; ``aud`` the API resources the
        scopes belong to, absent when there are none; ``sub`` (and the user's claims,
        ``auth_time``, ``idp``, ``amr``) only for a user, never on client credentials.
        """
        claims = self._issued_now(lifetime)
        now = claims["iat"]
        claims.update(client_id=client_id, scope=scope.split(), jti=secrets.token_urlsafe(12))
        if audiences:
            claims["aud"] = _audience(audiences)
        if subject is not None:
            claims.update(user_claims or {})
            claims.update(sub=subject, auth_time=auth_time or now, idp="local", amr=["pwd"])
            if sid:
                claims["sid"] = sid
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
        """Return an RS256 ID token (OIDC Core 1.0 §2) shaped as Duende IdentityServer's.

        ``user_claims`` is ``{"sub": ...}`` alone by default (protocol claims only);
        the caller adds the user's claims for ``always_include_user_claims_in_id_token``.
        No ``azp``; ``nbf``, ``idp`` and ``amr`` as Duende sends them. ``sid`` is the IdP
        session (Back-Channel Logout 1.0 §3), when there is one.
        """
        claims = self._issued_now(lifetime)
        claims.update(aud=client_id, amr=["pwd"], auth_time=auth_time or claims["iat"], idp="local")
        claims.update(user_claims)
        if nonce:
            claims["nonce"] = nonce
        if at_hash:
            claims["at_hash"] = at_hash
        if sid:
            claims["sid"] = sid
        claims = apply_overrides(claims, self._controls.take_next_claims("id_token"))
        return self._sign(claims)

    def _issued_now(self, lifetime: int) -> dict[str, Any]:
        """``iss``, ``nbf``, ``iat`` and ``exp`` of a token issued now for ``lifetime`` s."""
        now = int(self._clock.time())
        return {"iss": self.issuer, "nbf": now, "iat": now, "exp": now + lifetime}

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
