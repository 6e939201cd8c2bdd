"""Dualog's rules before sending, IMO check digits and filter quoting, as named vectors."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from rpkit.errors import ValidationError
from rpkit.scim import CrewExtension, Email, Filter, User, is_valid_imo, validate_imo
from rpkit.scim.validation import parse_scim_date, user_warnings, validate_user

TODAY = date(2026, 3, 10)


def _user(**crew: Any) -> User:
    fields: dict[str, Any] = {
        "ship_imo": "9312456",
        "ship_name": "MV Nordic Aurora",
        "contract_start_date": "2026-03-12",
        "contract_end_date": "2026-09-12",
    }
    fields.update(crew)
    return User(
        user_name="kari.hansen@nordic-aurora.example",
        given_name="Kari",
        family_name="Hansen",
        emails=(Email(value="kari@example.com", type="home"),),
        crew=CrewExtension(**fields),
    )


INVALID: list[tuple[str, User, str]] = [
    ("username_not_email", replace(_user(), user_name="kari.hansen"), "userName"),
    ("username_no_domain_dot", replace(_user(), user_name="kari@localhost"), "userName"),
    ("username_numeric_tld", replace(_user(), user_name="kari@ship.123"), "userName"),
    ("username_space", replace(_user(), user_name="kari hansen@x.example"), "userName"),
    ("username_double_dot", replace(_user(), user_name="kari..h@x.example"), "userName"),
    ("given_name_missing", replace(_user(), given_name=""), "name.givenName"),
    ("given_name_blank", replace(_user(), given_name="  "), "name.givenName"),
    ("family_name_missing", replace(_user(), family_name=""), "name.familyName"),
    ("email_invalid", replace(_user(), emails=(Email(value="nope"),)), "emails"),
    ("imo_check_digit", _user(ship_imo="9312457"), "shipImo"),
    ("imo_six_digits", _user(ship_imo="931245"), "shipImo"),
    ("imo_prefixed", _user(ship_imo="IMO9312456"), "shipImo"),
    ("ship_without_start", _user(contract_start_date=None), "contractStartDate"),
    ("start_bad_format", _user(contract_start_date="12/03/2026"), "contractStartDate"),
    ("start_not_a_date", _user(contract_start_date="2026-02-30"), "contractStartDate"),
    ("start_in_past", _user(contract_start_date="2026-03-09"), "contractStartDate"),
    ("end_bad_format", _user(contract_end_date="2026-9-12"), "contractEndDate"),
    ("end_before_start", _user(contract_end_date="2026-03-11"), "contractEndDate"),
    (
        "start_past_no_ship",
        _user(ship_imo=None, contract_start_date="2026-01-01"),
        "contractStartDate",
    ),
]


@pytest.mark.parametrize(("user", "field"), [v[1:] for v in INVALID], ids=[v[0] for v in INVALID])
def test_invalid_users(user: User, field: str) -> None:
    """Each broken rule raises ValidationError naming its field."""
    with pytest.raises(ValidationError) as caught:
        validate_user(user, today=TODAY)
    assert caught.value.field == field


VALID: list[tuple[str, User]] = [
    ("full", _user()),
    ("starts_today", _user(contract_start_date="2026-03-10")),
    ("end_equals_start", _user(contract_end_date="2026-03-12")),
    (
        "no_ship_no_dates",
        _user(ship_imo=None, ship_name=None, contract_start_date=None, contract_end_date=None),
    ),
    ("no_end", _user(contract_end_date=None)),
    ("plus_address", replace(_user(), user_name="kari+cms@sub.nordic-aurora.example")),
    ("punycode_tld", replace(_user(), user_name="kari@ship.xn--p1ai")),
]


@pytest.mark.parametrize("user", [v[1] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_users(user: User) -> None:
    """Users within the rules are returned unchanged."""
    assert validate_user(user, today=TODAY) is user


def test_put_may_keep_a_stored_past_start() -> None:
    """A PUT that keeps the stored (now past) start is allowed; changing it is not."""
    stored = _user(contract_start_date="2026-01-01")
    assert validate_user(stored, today=TODAY, existing=stored) is stored
    moved = _user(contract_start_date="2026-01-02")
    with pytest.raises(ValidationError):
        validate_user(moved, today=TODAY, existing=stored)


IMO_VALID = ["9074729", "9312456", "9487122", "9360544", "8814275", "1234567", "0000000"]
IMO_INVALID = [
    ("check_digit", "9074728"),
    ("check_digit_transposed", "9047729"),
    ("six_digits", "907472"),
    ("eight_digits", "90747290"),
    ("prefix", "IMO 9074729"),
    ("letter_o", "9O74729"),
    ("fullwidth_digits", "\uff19\uff10\uff17\uff14\uff17\uff12\uff19"),
    ("padded", " 9074729"),
    ("empty", ""),
]


@pytest.mark.parametrize("imo", IMO_VALID)
def test_imo_check_digit_valid(imo: str) -> None:
    """Seven digits whose last is the weighted-sum check digit pass."""
    assert is_valid_imo(imo) and validate_imo(imo) == imo


@pytest.mark.parametrize("imo", [v[1] for v in IMO_INVALID], ids=[v[0] for v in IMO_INVALID])
def test_imo_invalid(imo: str) -> None:
    """Malformed numbers and wrong check digits raise on field shipImo."""
    assert not is_valid_imo(imo)
    with pytest.raises(ValidationError) as caught:
        validate_imo(imo, ship_name="MV Typo")
    assert caught.value.field == "shipImo"
    assert "MV Typo" in str(caught.value)


def test_warnings_for_ship_without_imo() -> None:
    """A ship name with no IMO number is sent but warned about: no ship would be assigned."""
    warnings = user_warnings(_user(ship_imo=None))
    assert [w.field for w in warnings] == ["shipImo"]
    assert user_warnings(_user()) == ()


def test_parse_scim_date() -> None:
    """Only yyyy-MM-dd calendar dates parse."""
    assert parse_scim_date("2026-02-28", "d") == date(2026, 2, 28)
    for bad in ("2026-02-29", "20260228", "2026-02-28T00:00:00Z", "\uff12026-02-28"):
        with pytest.raises(ValidationError):
            parse_scim_date(bad, "d")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("EMP-1", 'externalId eq "EMP-1"'),
        ('a"b', 'externalId eq "a\\"b"'),
        ("back\\slash", 'externalId eq "back\\\\slash"'),
        ('x" or userName pr or "', 'externalId eq "x\\" or userName pr or \\""'),
        ("line\nbreak", 'externalId eq "line\\nbreak"'),
    ],
    ids=["plain", "quote", "backslash", "injection", "newline"],
)
def test_filter_values_are_quoted(value: str, expected: str) -> None:
    """Filter values become JSON string literals; nothing can escape the quotes."""
    assert str(Filter.eq("externalId", value)) == expected


@pytest.mark.parametrize(
    ("attribute", "operator", "value"),
    [
        ("displayName", "eq", "x"),
        ("emails.value", "eq", "x"),
        ("userName", "regex", "x"),
        ("userName", "gt", "a"),
        ("contractEndDate", "lt", "2026-1-1"),
        ("contractEndDate", "co", "2026"),
        ("meta.created", "gt", "yesterday"),
    ],
    ids=["undocumented", "emails", "operator", "gt_on_text", "bad_date", "co_on_date", "bad_time"],
)
def test_filter_rejects_undocumented(attribute: str, operator: str, value: str) -> None:
    """Only Dualog's documented attributes and sensible operators are accepted."""
    with pytest.raises(ValidationError) as caught:
        Filter.where(attribute, operator, value)
    assert caught.value.field == "filter"


def test_filter_combinations() -> None:
    """and/or parenthesise both sides."""
    f = Filter.where("contractEndDate", "lt", "2026-06-01").and_(Filter.eq("userName", "a@b.cd"))
    assert str(f) == '(contractEndDate lt "2026-06-01") and (userName eq "a@b.cd")'
    g = Filter.where("meta.created", "gt", "2024-01-01T00:00:00Z").or_(Filter.eq("externalId", "1"))
    assert str(g).startswith("(meta.created gt")
