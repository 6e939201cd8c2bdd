"""What a login yields, OIDC or SAML alike.

Owns: ``CrewIdentity``, what a login yields.
Must not import: a protocol or a web layer (floor 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CrewIdentity"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CrewIdentity:
    """A signed-in crew member.

    Users are keyed by ``(issuer, subject)`` (see :attr:`key`), never by email: an email
    is reassigned when crew change companies, and a ship-side server is its own issuer.
    """

    protocol: Literal["oidc", "saml"]
    issuer: str
    subject: str
    email: str | None = None
    email_verified: bool | None = None
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    rank: str | None = None
    department: str | None = None
    ship_name: str | None = None
    ship_imo: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        """The stable identifier of this user: ``(issuer, subject)``."""
        return (self.issuer, self.subject)

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        joined = " ".join(p for p in (self.given_name, self.family_name) if p)
        return joined or self.email or self.subject

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view without the raw claims."""
        return {
            "protocol": self.protocol,
            "issuer": self.issuer,
            "subject": self.subject,
            "email": self.email,
            "name": self.display_name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "rank": self.rank,
            "department": self.department,
            "ship_name": self.ship_name,
            "ship_imo": self.ship_imo,
        }
