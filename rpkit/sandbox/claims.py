"""What the sandbox says about a crew member: OIDC claims and SAML attributes."""

from __future__ import annotations

from typing import Any

from .models import CrewMember

__all__ = ["SAML_ATTRIBUTES", "oidc_claims", "saml_attributes"]

# Attribute name -> the common URI it is also sent under ("" for none). Documented in
# rpkit/sandbox/README.md.
SAML_ATTRIBUTES: dict[str, str] = {
    "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "given_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "family_name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "rank": "",
    "department": "",
    "ship_name": "",
    "ship_imo": "",
}


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


def saml_attributes(member: CrewMember) -> dict[str, str]:
    """Return the SAML attribute values by short name (empty values left out)."""
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
    return {k: v for k, v in values.items() if v}
