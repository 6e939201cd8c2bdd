"""What the sandbox says about a crew member: OIDC claims and SAML attributes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import RSK_CLAIMS_MAPPING
from .models import CrewMember

__all__ = ["oidc_claims", "saml_attributes"]


def oidc_claims(member: CrewMember, scopes: set[str]) -> dict[str, Any]:
    """Return the user claims for ``scopes`` (OIDC Core 1.0 §5.4).

    ``rank`` is always present, as on Dualog ("Claims: rank - always included").
    """
    claims: dict[str, Any] = {"sub": member.id, "rank": member.rank or ""}
    if "profile" in scopes:
        claims.update(
            name=member.name,
            given_name=member.given_name,
            family_name=member.family_name,
            preferred_username=member.user_name,
            updated_at=int(member.last_modified.timestamp()),
        )
    if "email" in scopes:
        claims.update(email=member.email, email_verified=True)
    if "crew.public" in scopes:
        for name, value in (
            ("department", member.department),
            ("ship_name", member.ship_name),
            ("ship_imo", member.ship_imo),
        ):
            if value:
                claims[name] = value
    return claims


def saml_attributes(
    member: CrewMember, *, names: str = "claim_uris", mapping: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """Return ``(attribute Name, value)`` pairs for an assertion (empty values left out).

    ``names="claim_uris"``: only the claims in ``mapping`` (RSK's default mapping when
    None), under the mapped names. ``names="short"``: every claim under its short name.
    """
    values = {
        "email": member.email,
        "given_name": member.given_name,
        "family_name": member.family_name,
        "name": member.name,
        "rank": member.rank or "",
        "department": member.department or "",
        "ship_name": member.ship_name or "",
        "ship_imo": member.ship_imo or "",
    }
    if names == "short":
        return [(k, v) for k, v in values.items() if v]
    mapping = RSK_CLAIMS_MAPPING if mapping is None else mapping
    return [(mapping[k], v) for k, v in values.items() if v and k in mapping]
