"""Verify a JWS-signed JWT against an allowlist and a key snapshot; the one home of joserfc JWS.

Shared by ID tokens, logout tokens and access tokens. The RP owns the algorithm
allowlist: the token's header and the provider's metadata only choose among it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.util import urlsafe_b64decode

from ..errors import AuthenticationError
from .keys import SigningKeys

__all__ = ["ErrorFactory", "verify_jwt"]

ErrorFactory = Callable[..., AuthenticationError]

# Tolerate unregistered header parameters (providers add x5t, cty...); ``crit`` is still
# enforced by joserfc, so an extension we do not understand is rejected.
_MAX_TOKEN_BYTES = 16 * 1024


def _registry(algorithms: Collection[str]) -> jws.JWSRegistry:
    registry = jws.JWSRegistry(algorithms=list(algorithms), strict_check_header=False)
    return registry


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
        AuthenticationError: built by ``error`` with reason ``malformed``, ``alg``,
            ``unknown_kid``, ``no_key``, ``kid_ambiguous`` or ``signature``;
            ``key_not_found`` is set when refetching the keys may help.
    """
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_BYTES:
        raise error("malformed", f"{what} is missing or too large")
    registry = _registry(algorithms)
    try:
        obj = jws.extract_compact(token.encode("ascii"), registry=registry)
    except (JoseError, ValueError, UnicodeError) as err:
        raise error("malformed", f"{what} is not a compact JWS") from err
    header = dict(obj.headers())
    alg = header.get("alg")
    # Never "none", never an algorithm the RP did not allow (RFC 8725 §3.1).
    if not isinstance(alg, str) or alg == "none" or alg not in algorithms:
        raise error("alg", f"{what} alg {alg!r} is not allowed; allowed: {', '.join(algorithms)}")
    try:
        registry.check_header(obj.protected)
        alg_model = registry.get_alg(alg)
    except JoseError as err:
        raise error("malformed", f"{what} header is not acceptable ({type(err).__name__})") from err
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise error("malformed", f'{what} header "kid" is not a string')
    if alg.startswith("HS"):
        if not secret:
            raise error("alg", f"{what} is signed with {alg} but no client secret is configured")
        candidates: list[Any] = [OctKey.import_key(secret)]
    else:
        candidates = list(keys.candidates(kid, alg))
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
    try:
        signing_input = obj.segments["header"] + b"." + obj.segments["payload"]
        signature = urlsafe_b64decode(obj.segments["signature"])
        valid = alg_model.verify(signing_input, signature, candidates[0])
    except (JoseError, ValueError, TypeError) as err:
        raise error("signature", f"{what} signature did not verify") from err
    if not valid:
        if kid is None and not alg.startswith("HS"):
            # One key, no kid, bad signature: the provider may have rotated to a new key.
            raise error("signature", f"{what} signature did not verify", key_not_found=True)
        raise error("signature", f"{what} signature did not verify")
    try:
        claims = json.loads(obj.payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise error("malformed", f"{what} payload is not JSON") from err
    if not isinstance(claims, dict):
        raise error("malformed", f"{what} payload is not a JSON object")
    return header, claims
