"""ID token validation (OIDC Core 1.0 §3.1.3.7), a pure function of token, keys, expected, now.

Each failed rule raises ``IdTokenError`` with a stable ``reason``:

=================  =====================================================================
reason             rule
=================  =====================================================================
malformed          not a compact JWS, payload not a JSON object, claim of the wrong type
alg                header alg not in the RP's allowlist (``none`` never is)
unknown_kid        the JWKS has no key with the header's kid (after one refetch)
no_key             no kid and no key of the alg's type
weak_key           signed by a published key rpkit drops: RSA < 2048 bits, EC not P-256/384/521
kid_ambiguous      no kid and several candidate keys
signature          signature does not verify
issuer             ``iss`` is not exactly the configured issuer
audience           ``aud`` does not contain ``client_id``
azp                several audiences and no ``azp``, or ``azp`` is not ``client_id``
expired            ``exp`` missing or past (with leeway)
iat                ``iat`` missing or in the future (with leeway)
not_yet_valid      ``nbf`` in the future (with leeway)
sub                ``sub`` missing or empty; or changed on refresh
nonce              ``nonce`` missing or different from the login's
at_hash            ``at_hash`` present and not the hash of the access token
auth_time          ``max_age`` requested and ``auth_time`` missing or too old
rank               Dualog ``rank`` claim missing or not a non-empty string (unless
                   ``allow_missing_rank``; ``OidcClient`` sets it and checks ``rank`` on
                   the ID token merged with userinfo instead)
=================  =====================================================================
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..errors import IdTokenError
from ._jwt import verify_jwt
from .claims import require_rank
from .keys import SigningKeys

__all__ = ["ExpectedIdToken", "IdToken", "validate_id_token"]

_HASH_FOR_ALG = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


@dataclass(frozen=True, kw_only=True, slots=True)
class ExpectedIdToken:
    """What a valid ID token must say; built from the login that was started.

    ``nonce`` is required for a login. After a refresh (§12.2) build it with
    :meth:`for_refresh`: then ``nonce`` may be absent, and ``subject`` must not change.
    """

    issuer: str
    client_id: str
    nonce: str | None
    algorithms: tuple[str, ...]
    leeway: timedelta = timedelta(seconds=60)
    max_age: int | None = None
    access_token: str | None = field(default=None, repr=False)
    subject: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    allow_missing_rank: bool = False
    refresh: bool = False

    def __post_init__(self) -> None:
        if not self.refresh and not self.nonce:
            raise IdTokenError("nonce", "a login's expected nonce must be set")

    @classmethod
    def for_refresh(
        cls, previous: IdToken, *, access_token: str | None, **kwargs: Any
    ) -> ExpectedIdToken:
        """Expectations for the ID token returned by a refresh (OIDC Core 1.0 §12.2)."""
        return cls(
            nonce=previous.claims.get("nonce"),
            subject=previous.subject,
            access_token=access_token,
            refresh=True,
            **kwargs,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class IdToken:
    """A validated ID token."""

    raw: str = field(repr=False)
    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])


def validate_id_token(
    id_token: str, *, keys: SigningKeys, expected: ExpectedIdToken, now: float
) -> IdToken:
    """Validate ``id_token`` and return it with its claims.

    Args:
        keys: the provider's verification keys (a snapshot; fetching is the caller's job).
        now: seconds since the epoch, already corrected by the configured clock offset.

    Raises:
        IdTokenError: with the ``reason`` of the first rule that failed; when
            ``key_not_found`` is set, refetching the JWKS and retrying once may help.
    """
    header, claims = verify_jwt(
        id_token,
        keys=keys,
        algorithms=expected.algorithms,
        error=IdTokenError,
        what="ID token",
        secret=expected.client_secret,
    )
    validate_id_token_claims(claims, header=header, expected=expected, now=now)
    return IdToken(raw=id_token, header=header, claims=claims)


def validate_id_token_claims(
    claims: Mapping[str, Any], *, header: Mapping[str, Any], expected: ExpectedIdToken, now: float
) -> None:
    """Apply the claim rules of OIDC Core 1.0 §3.1.3.7 to verified claims.

    One step per rule, in the order of the reason table; the first that fails raises.
    """
    leeway = expected.leeway.total_seconds()
    validate_issuer(claims, expected)
    validate_audience(claims, expected)
    validate_times(claims, now=now, leeway=leeway)
    validate_subject(claims, expected)
    validate_nonce(claims, expected)
    validate_at_hash(claims, header=header, expected=expected)
    validate_auth_time(claims, expected, now=now, leeway=leeway)
    if not expected.allow_missing_rank:
        require_rank(claims, looked_in="the ID token")


def validate_issuer(claims: Mapping[str, Any], expected: ExpectedIdToken) -> None:
    """``iss`` is exactly the configured issuer (reason ``issuer``)."""
    if claims.get("iss") != expected.issuer:
        raise IdTokenError(
            "issuer",
            f'ID token "iss" is {claims.get("iss")!r}, expected {expected.issuer!r}',
        )


def validate_audience(claims: Mapping[str, Any], expected: ExpectedIdToken) -> None:
    """``aud`` contains this client; several audiences need ``azp`` (``audience``, ``azp``)."""
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise IdTokenError("audience", 'ID token "aud" is missing or malformed')
    if expected.client_id not in audiences:
        raise IdTokenError(
            "audience", f'ID token "aud" does not contain this client ({expected.client_id!r})'
        )
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise IdTokenError("azp", 'ID token has several audiences but no "azp"')
    if azp is not None and azp != expected.client_id:
        raise IdTokenError("azp", f'ID token "azp" is {azp!r}, not this client')


def validate_times(claims: Mapping[str, Any], *, now: float, leeway: float) -> None:
    """``exp`` not past; ``iat``, ``nbf`` not future (``expired``, ``iat``, ``not_yet_valid``)."""
    exp = _number(claims, "exp", "expired")
    if now - leeway >= exp:
        raise IdTokenError("expired", "ID token has expired")
    iat = _number(claims, "iat", "iat")
    if iat > now + leeway:
        raise IdTokenError("iat", 'ID token "iat" is in the future; check the clock offset')
    if "nbf" in claims and _number(claims, "nbf", "not_yet_valid") > now + leeway:
        raise IdTokenError("not_yet_valid", "ID token is not valid yet; check the clock offset")


def validate_subject(claims: Mapping[str, Any], expected: ExpectedIdToken) -> None:
    """``sub`` is present and, on refresh, unchanged (reason ``sub``)."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise IdTokenError("sub", 'ID token "sub" is missing')
    if expected.subject is not None and sub != expected.subject:
        raise IdTokenError("sub", 'refreshed ID token "sub" differs from the original')


def validate_nonce(claims: Mapping[str, Any], expected: ExpectedIdToken) -> None:
    """``nonce`` matches the login's; on refresh it may be absent (reason ``nonce``)."""
    nonce = claims.get("nonce")
    if expected.refresh:
        if nonce is not None and nonce != expected.nonce:
            raise IdTokenError("nonce", 'refreshed ID token "nonce" differs from the original')
    elif not isinstance(nonce, str) or not hmac.compare_digest(nonce, expected.nonce or ""):
        raise IdTokenError("nonce", 'ID token "nonce" does not match the login request')


def validate_at_hash(
    claims: Mapping[str, Any], *, header: Mapping[str, Any], expected: ExpectedIdToken
) -> None:
    """A present ``at_hash`` is the hash of the access token (reason ``at_hash``)."""
    if "at_hash" not in claims or expected.access_token is None:
        return
    if not expected.access_token.isascii():
        # at_hash is over the token's ASCII octets (§3.1.3.6); no such token matches.
        raise IdTokenError("at_hash", "the access token is not ASCII, so at_hash cannot match")
    if claims["at_hash"] != token_hash(expected.access_token, str(header.get("alg"))):
        raise IdTokenError("at_hash", 'ID token "at_hash" does not match the access token')


def validate_auth_time(
    claims: Mapping[str, Any], expected: ExpectedIdToken, *, now: float, leeway: float
) -> None:
    """With ``max_age``, ``auth_time`` is present and recent enough (reason ``auth_time``)."""
    if expected.max_age is None:
        return
    if "auth_time" not in claims:
        raise IdTokenError("auth_time", 'max_age was requested but "auth_time" is missing')
    auth_time = _number(claims, "auth_time", "auth_time")
    if now - leeway > auth_time + expected.max_age:
        raise IdTokenError("auth_time", "the user authenticated longer ago than max_age")


def _number(claims: Mapping[str, Any], name: str, reason: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdTokenError(reason, f'ID token "{name}" is missing or not a number')
    try:
        return float(value)
    except OverflowError as err:  # an integer past float range (10**400): found by fuzzing
        raise IdTokenError(reason, f'ID token "{name}" is out of range') from err


def token_hash(value: str, alg: str) -> str:
    """``at_hash``/``c_hash``: left half of the alg's hash, base64url (OIDC Core §3.1.3.6)."""
    digest = _HASH_FOR_ALG.get(alg[-3:], hashlib.sha256)(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
