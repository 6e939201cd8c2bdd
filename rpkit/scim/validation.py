"""Dualog's User API rules, checked before anything is sent (User API guide, "Creating a User").

Pure functions of (user, today): a rule broken raises ``ValidationError`` whose ``field``
names the SCIM attribute. Advice that does not block sending (a ship named without an IMO
number) comes back from :func:`user_warnings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ..errors import ValidationError
from .models import User

__all__ = [
    "ValidationWarning",
    "is_valid_imo",
    "parse_scim_date",
    "user_warnings",
    "validate_email",
    "validate_imo",
    "validate_user",
]

# Dualog: "userName must be an email address with a valid email domain". A domain is
# dot-separated labels ending in an alphabetic (or punycode) top-level label.
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$"
)
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_IMO = re.compile(r"^[0-9]{7}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class ValidationWarning:
    """Something that will not be refused but probably is not what was meant."""

    field: str
    message: str


def validate_email(value: str, field: str = "userName") -> str:
    """Return ``value`` if it is an email address with a plausible domain, else raise."""
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.match(value):
        raise ValidationError(field, f'"{field}" must be an email address, got {value!r}')
    if ".." in value.split("@", 1)[0] or value.startswith("."):
        raise ValidationError(field, f'"{field}" must be an email address, got {value!r}')
    return value


def is_valid_imo(imo: str) -> bool:
    """Return whether ``imo`` is seven digits whose last is the IMO check digit.

    The check digit is the last digit of the sum of the first six digits weighted
    7, 6, 5, 4, 3, 2 (IMO Resolution A.1078(28), annex paragraph 3).
    """
    if not isinstance(imo, str) or not _IMO.match(imo):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(imo[:6], range(7, 1, -1), strict=True))
    return total % 10 == int(imo[6])


def validate_imo(imo: str, *, ship_name: str | None = None, field: str = "shipImo") -> str:
    """Return ``imo`` if it is a well-formed IMO number, else raise ``ValidationError``.

    Dualog matches ships by IMO exactly; a typo'd number makes the CMS integration create
    the user without a ship (CMS guide, "Matching Ships"), so it is refused here.
    """
    ship = f' for ship "{ship_name}"' if ship_name else ""
    if not isinstance(imo, str) or not _IMO.match(imo):
        raise ValidationError(field, f'"{field}" {imo!r}{ship} must be 7 digits')
    if not is_valid_imo(imo):
        raise ValidationError(
            field,
            f'"{field}" {imo}{ship} fails the IMO check digit; the user would get no ship',
        )
    return imo


def parse_scim_date(value: str, field: str) -> date:
    """Parse a ``yyyy-MM-dd`` date (the only format Dualog accepts) or raise."""
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValidationError(field, f'"{field}" must be yyyy-MM-dd, got {value!r}')
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise ValidationError(field, f'"{field}" {value!r} is not a calendar date') from err


def validate_user(user: User, *, today: date, existing: User | None = None) -> User:
    """Return ``user`` if Dualog would accept it as a POST (or, with ``existing``, a PUT).

    Rules (User API guide, "Creating a User"): ``userName`` is an email; given and family
    name are present; ``emails`` hold addresses; ``shipImo`` is a valid IMO number and then
    needs ``contractStartDate``; dates are ``yyyy-MM-dd``; the start is not before ``today``
    unless a PUT keeps the start already stored; the end is not before the start.

    Raises:
        ValidationError: ``field`` names the first attribute that breaks a rule.
    """
    validate_email(user.user_name, "userName")
    if not user.given_name or not user.given_name.strip():
        raise ValidationError("name.givenName", '"name.givenName" (first name) is required')
    if not user.family_name or not user.family_name.strip():
        raise ValidationError("name.familyName", '"name.familyName" (surname) is required')
    for email in user.emails:
        validate_email(email.value, "emails")
    crew = user.crew
    if crew.ship_imo is not None:
        validate_imo(crew.ship_imo, ship_name=crew.ship_name)
    start = (
        parse_scim_date(crew.contract_start_date, "contractStartDate")
        if crew.contract_start_date is not None
        else None
    )
    end = (
        parse_scim_date(crew.contract_end_date, "contractEndDate")
        if crew.contract_end_date is not None
        else None
    )
    if crew.ship_imo is not None and start is None:
        raise ValidationError(
            "contractStartDate", '"contractStartDate" is required when "shipImo" is given'
        )
    kept = existing is not None and existing.crew.contract_start_date == crew.contract_start_date
    if start is not None and start < today and not kept:
        raise ValidationError(
            "contractStartDate",
            f'"contractStartDate" {start.isoformat()} is in the past (today is '
            f"{today.isoformat()}); Dualog refuses it",
        )
    if start is not None and end is not None and end < start:
        raise ValidationError(
            "contractEndDate",
            f'"contractEndDate" {end.isoformat()} is before "contractStartDate" '
            f"{start.isoformat()}",
        )
    return user


def user_warnings(user: User) -> tuple[ValidationWarning, ...]:
    """Advice that does not block sending: ship assignments that will not happen."""
    crew = user.crew
    found: list[ValidationWarning] = []
    if crew.ship_name and not crew.ship_imo:
        found.append(
            ValidationWarning(
                field="shipImo",
                message=f'ship "{crew.ship_name}" has no IMO number; Dualog matches ships by '
                "IMO, so the user gets no ship",
            )
        )
    if crew.contract_end_date and not crew.contract_start_date:
        found.append(
            ValidationWarning(
                field="contractStartDate",
                message='"contractEndDate" without "contractStartDate" assigns no ship',
            )
        )
    return tuple(found)
