"""The crew records every sandbox protocol reads: ships, groups, crew members."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = [
    "CrewMember",
    "Group",
    "Ship",
    "SignInRefusedError",
    "check_sign_in",
    "hash_password",
    "is_valid_imo",
    "verify_password",
]

# A sandbox, not a vault: few iterations keep seeding and tests fast.
_PBKDF2_ITERATIONS = 2000


def hash_password(password: str) -> str:
    """Return a salted PBKDF2-SHA256 hash of ``password``."""
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), _PBKDF2_ITERATIONS)
    return f"pbkdf2${salt}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    """Return whether ``password`` matches the ``stored`` hash (constant time)."""
    if not stored or stored.count("$") != 2:
        return False
    _, salt, expected = stored.split("$")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), _PBKDF2_ITERATIONS)
    return hmac.compare_digest(digest.hex(), expected)


def is_valid_imo(imo: str) -> bool:
    """Return whether ``imo`` is seven digits with a valid IMO check digit."""
    if len(imo) != 7 or not imo.isascii() or not imo.isdigit():
        return False
    total = sum(int(imo[i]) * (7 - i) for i in range(6))
    return total % 10 == int(imo[6])


@dataclass(frozen=True, kw_only=True, slots=True)
class Ship:
    """A vessel known to the sandbox, matched by IMO number."""

    imo: str
    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Group:
    """A user group; ``members`` are user ids."""

    id: str
    display_name: str
    members: tuple[str, ...] = ()
    created: datetime
    last_modified: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class CrewMember:
    """One user: the SCIM core fields plus Dualog's seafarer extension."""

    id: str
    user_name: str
    given_name: str
    family_name: str
    created: datetime
    last_modified: datetime
    external_id: str | None = None
    display_name: str | None = None
    active: bool = True
    emails: tuple[Mapping[str, Any], ...] = ()
    phone_numbers: tuple[Mapping[str, Any], ...] = ()
    rank: str | None = None
    department: str | None = None
    ship_name: str | None = None
    ship_imo: str | None = None
    contract_start: date | None = None
    contract_end: date | None = None
    force_change_password: bool = False
    user_fields: tuple[Mapping[str, Any], ...] = ()
    groups: tuple[str, ...] = ()
    password_hash: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The display name, or given and family name joined."""
        return self.display_name or f"{self.given_name} {self.family_name}".strip()

    @property
    def email(self) -> str:
        """The login email (Dualog: ``userName`` is the email address)."""
        return self.user_name

    def contract_state(self, today: date) -> str:
        """Return ``"none"``, ``"future"``, ``"current"`` or ``"ended"`` for ``today``."""
        if self.contract_start is None and self.contract_end is None:
            return "none"
        if self.contract_end is not None and self.contract_end < today:
            return "ended"
        if self.contract_start is not None and self.contract_start > today:
            return "future"
        return "current"


class SignInRefusedError(Exception):
    """The crew member may not sign in; ``reason`` is a stable code, the message is for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def check_sign_in(member: CrewMember, today: date) -> None:
    """Raise ``SignInRefusedError`` unless ``member`` may sign in on ``today``.

    Dualog revokes access at sign-off ("Crew Sign-Off": contract end date passes) and for
    users marked inactive ("Crew Departure").
    """
    if not member.active:
        raise SignInRefusedError(
            "inactive",
            f"{member.name}'s account is inactive. Ask the crew office to re-activate it.",
        )
    if member.contract_state(today) == "ended" and member.contract_end is not None:
        ship = member.ship_name or "the vessel"
        raise SignInRefusedError(
            "contract_ended",
            f"{member.name} signed off {ship} on {member.contract_end.isoformat()}; "
            "access was revoked at the end of the contract.",
        )
