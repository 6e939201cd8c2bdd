"""Verify a JWS-signed JWT against an allowlist and a key snapshot; the one home of joserfc JWS.

Shared by ID tokens, logout tokens and access tokens. The RP owns the algorithm
allowlist: the token's header and the provider's metadata only choose among it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from functools import lru_cache
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.util import urlsafe_b64decode

from ..errors import OidcTokenError
from .keys import SigningKeys

__all__ = ["ErrorFactory", "verify_jwt"]

ErrorFactory = Callable[..., OidcTokenError]

_MAX_TOKEN_BYTES = 16 * 1024


def _no_constant(name: str) -> Any:
    # RFC 8259 has no NaN or Infinity; Python's parser accepts them, and an "exp" of NaN
    # compares false with every time, so such a token would never expire.
    raise ValueError(f"{name} is not JSON")


class _HeaderRejected(Exception):
    """A header failed a check; ``message`` has a ``{what}`` placeholder."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


# Tolerate unregistered header parameters (providers add x5t, cty...); ``crit`` is still
# enforced by joserfc, so an extension we do not understand is rejected.
@lru_cache(maxsize=16)
def _registry(algorithms: tuple[str, ...]) -> jws.JWSRegistry:
    return jws.JWSRegistry(algorithms=list(algorithms), strict_check_header=False)


# A provider signs every token with the same few headers, so the decoded, checked header
# is cached by its exact base64url segment: a pure function of (segment, allowlist).
# Failures are not cached; a flood of distinct headers only evicts entries.
@lru_cache(maxsize=64)
def _checked_header(segment: str, algorithms: tuple[str, ...]) -> tuple[Mapping[str, Any], Any]:
    registry = _registry(algorithms)
    if len(segment) > registry.max_header_length:
        raise _HeaderRejected("malformed", "{what} header is too large")
    try:
        header = json.loads(urlsafe_b64decode(segment.encode("ascii")), parse_constant=_no_constant)
    except (ValueError, UnicodeError) as err:
        raise _HeaderRejected("malformed", "{what} is not a compact JWS") from err
    if not isinstance(header, dict) or "alg" not in header:
        raise _HeaderRejected("malformed", "{what} is not a compact JWS")
    alg = header.get("alg")
    # Never "none", never an algorithm the RP did not allow (RFC 8725 §3.1).
    if not isinstance(alg, str) or alg == "none" or alg not in algorithms:
        allowed = ", ".join(algorithms).replace("{", "{{").replace("}", "}}")
        shown = repr(alg).replace("{", "{{").replace("}", "}}")
        raise _HeaderRejected("alg", f"{{what}} alg {shown} is not allowed; allowed: {allowed}")
    try:
        registry.check_header(header)
        alg_model = registry.get_alg(alg)
    except (JoseError, TypeError, ValueError) as err:
        # joserfc assumes well-typed header values: {"crit": 5} raises TypeError there.
        raise _HeaderRejected(
            "malformed", f"{{what}} header is not acceptable ({type(err).__name__})"
        ) from err
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _HeaderRejected("malformed", '{what} header "kid" is not a string')
    return header, alg_model


def verify_jwt(
    token: str,
    *,
    keys: SigningKeys,
    algorithms: Collection[str],
    error: ErrorFactory,
    what: str,
    secret: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(header, claims)`` of a JWT whose signature verifies.

    Raises:
        OidcTokenError: built by ``error`` with reason ``malformed``, ``alg``,
            ``unknown_kid``, ``no_key``, ``weak_key``, ``kid_ambiguous`` or ``signature``;
            ``key_not_found`` is set when refetching the keys may help.
    """
    allowed = tuple(algorithms)
    header_segment, payload_segment, signature_segment = _split(token, allowed, error, what)
    try:
        cached_header, alg_model = _checked_header(header_segment, allowed)
    except _HeaderRejected as rejected:
        raise error(rejected.reason, rejected.message.format(what=what)) from rejected
    header = dict(cached_header)  # the cached mapping is shared; never hand it out
    alg: str = header["alg"]
    kid = header.get("kid")
    try:
        payload = urlsafe_b64decode(payload_segment.encode("ascii"))
    except (ValueError, UnicodeError) as err:
        raise error("malformed", f"{what} is not a compact JWS") from err
    key = _verification_key(keys, kid, alg, secret, error, what)
    try:
        signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
        signature = urlsafe_b64decode(signature_segment.encode("ascii"))
        valid = alg_model.verify(signing_input, signature, key)
    except (JoseError, ValueError, TypeError) as err:
        raise error("signature", f"{what} signature did not verify") from err
    if not valid:
        if kid is None and not alg.startswith("HS"):
            # One key, no kid, bad signature: the provider may have rotated to a new key.
            raise error("signature", f"{what} signature did not verify", key_not_found=True)
        raise error("signature", f"{what} signature did not verify")
    return header, _decode_claims(payload, error, what)


def _split(
    token: str, allowed: tuple[str, ...], error: ErrorFactory, what: str
) -> tuple[str, str, str]:
    """Return the three segments of a compact JWS within the size caps."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_BYTES:
        raise error("malformed", f"{what} is missing or too large")
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise error("malformed", f"{what} is not a compact JWS")
    header_segment, payload_segment, signature_segment = parts
    if len(signature_segment) > _registry(allowed).max_signature_length:
        raise error("malformed", f"{what} signature is too large")
    return header_segment, payload_segment, signature_segment


def _verification_key(
    keys: SigningKeys,
    kid: str | None,
    alg: str,
    secret: str | None,
    error: ErrorFactory,
    what: str,
) -> Any:
    """Return the one key that may verify this token, or raise why there is none."""
    if alg.startswith("HS"):
        if not secret:
            raise error("alg", f"{what} is signed with {alg} but no client secret is configured")
        return OctKey.import_key(secret)
    candidates = list(keys.candidates(kid, alg))
    weak = keys.weak_key(kid, alg) if not candidates else None
    if weak is not None:
        # The provider published this key but it is too weak to trust (dropped from the
        # JWKS with a warning). Not key_not_found: refetching would find the same key.
        raise error("weak_key", f"{what} is signed with key {kid!r}, refused: {weak.why}")
    if not candidates:
        raise error(
            "unknown_kid" if kid is not None else "no_key",
            f"{what} names key {kid!r}, which the provider's JWKS does not hold"
            if kid is not None
            else f"the provider's JWKS has no {alg} key for this {what}",
            key_not_found=True,
        )
    if len(candidates) > 1:
        # Without a kid we would have to try each key; with several that makes the
        # choice the attacker's. OIDC Core §10.1 requires kid when several keys exist.
        raise error("kid_ambiguous", f"{what} has no kid and the JWKS holds several {alg} keys")
    return candidates[0]


def _decode_claims(payload: bytes, error: ErrorFactory, what: str) -> dict[str, Any]:
    try:
        claims = json.loads(payload, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise error("malformed", f"{what} payload is not JSON") from err
    if not isinstance(claims, dict):
        raise error("malformed", f"{what} payload is not a JSON object")
    return claims
