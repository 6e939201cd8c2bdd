"""Map OIDC claims to the ``CrewIdentity`` a login yields, OIDC or SAML alike.

Where the user's claims live depends on the provider's client setting. Duende
IdentityServer (Dualog's stack) puts ``rank``, ``email`` and ``name`` in a code-flow ID
token only when the client has ``AlwaysIncludeUserClaimsInIdToken``, which is off by
default; otherwise they come from userinfo. :func:`missing_user_claims` says when userinfo
is needed, :func:`merge_claims` combines both, :func:`require_rank` enforces ``rank`` on
the result.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..errors import IdTokenError
from ..identity import CrewIdentity

__all__ = ["identity_from_claims", "merge_claims", "missing_user_claims", "require_rank"]

# Claims a scope promises for every user (OIDC Core 1.0 §5.4; Dualog: rank "always
# included"). department, ship_name and ship_imo are not here: a crew member ashore
# has none, so their absence says nothing about where the provider puts claims.
_PROMISED = (("email", "email"), ("profile", "name"))


def _present(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


def missing_user_claims(
    claims: Mapping[str, Any], *, scopes: Collection[str], require_rank: bool
) -> tuple[str, ...]:
    """The user claims a login needs that ``claims`` (an ID token's) does not carry.

    ``rank`` counts when ``require_rank``; ``email`` and ``name`` when their scope was
    requested. An empty tuple means userinfo has nothing to add that the login needs.
    """
    wanted = ["rank"] if require_rank else []
    wanted += [claim for scope, claim in _PROMISED if scope in scopes]
    return tuple(name for name in wanted if not _present(claims.get(name)))


def merge_claims(id_token: Mapping[str, Any], userinfo: Mapping[str, Any]) -> dict[str, Any]:
    """Userinfo claims overlaid with the ID token's non-empty ones.

    The ID token wins where both have a value: it is signed and bound to this login,
    while plain-JSON userinfo is only as trustworthy as the TLS link. The caller must have
    checked that both have the same ``sub`` (OIDC Core 1.0 §5.3.2).
    """
    merged = dict(userinfo)
    merged.update({k: v for k, v in id_token.items() if _present(v)})
    return merged


def require_rank(claims: Mapping[str, Any], *, looked_in: str) -> None:
    """Refuse a login without a non-empty ``rank``; ``looked_in`` names where we looked.

    Raises:
        IdTokenError: ``rank``.
    """
    rank = claims.get("rank")
    if not isinstance(rank, str) or not rank.strip():
        raise IdTokenError(
            "rank",
            f'no "rank" claim in {looked_in}; Dualog always sends one: request the '
            '"crew.public" scope, or set allow_missing_rank for a non-Dualog provider',
        )


def identity_from_claims(issuer: str, claims: Mapping[str, Any]) -> CrewIdentity:
    """Map ID token (and userinfo) claims to a ``CrewIdentity``."""

    def text(*names: str) -> str | None:
        for name in names:
            value = claims.get(name)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
        return None

    verified = claims.get("email_verified")
    return CrewIdentity(
        protocol="oidc",
        issuer=issuer,
        subject=str(claims["sub"]),
        email=text("email"),
        email_verified=verified if isinstance(verified, bool) else None,
        name=text("name"),
        given_name=text("given_name"),
        family_name=text("family_name"),
        rank=text("rank"),
        department=text("department"),
        ship_name=text("ship_name", "shipName"),
        ship_imo=text("ship_imo", "shipImo"),
        claims=dict(claims),
    )
