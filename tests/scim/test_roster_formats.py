"""Roster parsing of what CMSs really export: date formats and encodings."""

from __future__ import annotations

from datetime import date

import pytest

from rpkit.errors import ValidationError
from rpkit.scim.roster import decode_roster, parse_roster

HEADER = "First Name,Surname,Email Address,Contract Start Date,Contract End Date\n"


def _start(value: str, date_format: str) -> date | None:
    roster = parse_roster(
        HEADER + f'Kari,Hansen,kari@example.com,"{value}",\n', date_format=date_format
    )
    [row] = roster.rows
    if row.problem is not None:
        raise row.problem
    return row.contract_start


@pytest.mark.parametrize(
    ("value", "date_format"),
    [
        ("2026-03-05", "iso"),
        ("2026-03-05T00:00:00", "iso"),  # database / Excel date-time column
        ("2026-03-05 00:00:00", "dmy"),
        ("05.03.2026", "dmy"),
        ("05/03/2026", "dmy"),
        ("5-3-2026", "dmy"),
        ("03/05/2026", "mdy"),
        ("2026/03/05", "ymd"),
        ("20260305", "ymd"),
        ("05-Mar-2026", "iso"),  # month names are unambiguous under any format
        ("5 March 2026", "mdy"),
        ("March 5, 2026", "dmy"),
        ("05|03|2026", "%d|%m|%Y"),
    ],
)
def test_common_cms_date_formats(value: str, date_format: str) -> None:
    """Each common export spelling of 5 March 2026 reads with its --date-format."""
    assert _start(value, date_format) == date(2026, 3, 5)


@pytest.mark.parametrize(
    ("value", "date_format"),
    [("05.03.2026", "iso"), ("13/05/2026", "mdy"), ("2026-02-30", "iso"), ("soon", "dmy")],
    ids=["dmy-under-iso", "month-13", "no-such-day", "not-a-date"],
)
def test_a_date_that_does_not_match_reports_the_row(value: str, date_format: str) -> None:
    """A date outside the format makes that row invalid, with a hint at --date-format."""
    with pytest.raises(ValidationError) as caught:
        _start(value, date_format)
    assert caught.value.field == "contractStartDate"
    assert "--date-format" in caught.value.message and repr(value) in caught.value.message


def test_unknown_date_format_name_fails_once() -> None:
    """A --date-format that is neither a known name nor a pattern fails the file."""
    with pytest.raises(ValidationError) as caught:
        parse_roster(HEADER, date_format="european")
    assert caught.value.field == "date_format"


@pytest.mark.parametrize(
    ("data", "encoding", "hint"),
    [
        ("Bjørn".encode("cp1252"), None, "--encoding cp1252"),
        ("Bjørn".encode("utf-16-le"), None, "--encoding utf-16-le"),
        (b"\x81\x8d", "cp1252", "check --encoding"),  # bytes cp1252 leaves undefined
        (b"abc", "no-such-codec", "unknown encoding"),
    ],
    ids=["cp1252-as-utf8", "utf16-without-bom", "undefined-cp1252", "unknown"],
)
def test_undecodable_exports_are_validation_errors(
    data: bytes, encoding: str | None, hint: str
) -> None:
    """Bytes that do not decode are a ValidationError naming the fix, never a UnicodeError."""
    with pytest.raises(ValidationError) as caught:
        decode_roster(data, encoding)
    assert caught.value.field == "encoding" and hint in caught.value.message


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_boms_are_detected(encoding: str) -> None:
    """A UTF-8, UTF-16 (either order) or UTF-32 BOM picks the decoding."""
    text = "First Name\nBjørn\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    assert decode_roster(data).removeprefix("\ufeff") == text


def test_nul_characters_suggest_utf16() -> None:
    """Text with NULs (UTF-16 read as bytes) is refused with a hint, not parsed as junk."""
    with pytest.raises(ValidationError) as caught:
        parse_roster("F\x00i\x00r\x00s\x00t\x00")
    assert caught.value.field == "encoding" and "utf-16" in caught.value.message
