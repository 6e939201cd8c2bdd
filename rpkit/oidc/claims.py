"""Map OIDC claims to the ``CrewIdentity`` a login yields, OIDC or SAML alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..identity import CrewIdentity

__all__ = ["identity_from_claims"]


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
