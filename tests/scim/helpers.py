"""Shared helpers for the SCIM tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rpkit.scim import CrewExtension, Email, GroupRef, User, UserField

INGRID_ID = "87234"  # Master on MV Nordic Aurora, current contract, EMP-1001
INGRID = "ingrid.larsen@nordic-aurora.example"
AURORA = "9312456"  # MV Nordic Aurora
POLAR = "9487122"  # MT Polar Voyager
SKAGERRAK = "9360544"  # MV Skagerrak Star
SEED_USERS = 8


class Sleeps(list[float]):
    """A ``sleep`` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def today() -> date:
    return datetime.now(UTC).date()


def in_days(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


def new_user(n: int = 1, **changes: Any) -> User:
    """A valid new crew member on MV Nordic Aurora, starting in two days."""
    crew = CrewExtension(
        rank="AB",
        department="Deck",
        ship_imo=AURORA,
        contract_start_date=in_days(2),
        contract_end_date=in_days(120),
        force_change_password=True,
        user_fields=(UserField(key="businessUnit", value="North"),),
    )
    user = User(
        user_name=f"crew{n}@nordic-aurora.example",
        external_id=f"EMP-9{n:03d}",
        given_name="Kari",
        family_name=f"Hansen{n}",
        emails=(Email(value=f"crew{n}@nordic-aurora.example", type="work", primary=True),),
        groups=(GroupRef(value="6482"),),
        crew=crew,
    )
    fields = {f: changes.pop(f) for f in list(changes) if f in CrewExtension.__dataclass_fields__}
    if fields:
        user = replace(user, crew=replace(crew, **fields))
    if changes:
        user = replace(user, **changes)
    return user
