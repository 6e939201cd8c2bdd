"""Roster files the fuzzer (benchmarks/fuzz.py) found escaping as non-rpkit exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpkit.errors import ValidationError
from rpkit.scim.roster import parse_roster, read_roster, rows_to_csv

ROW = {"first_name": "Anna", "surname": "Berg", "email": "anna.berg@fleet.example"}


def test_roster_not_in_the_given_encoding_is_a_validation_error(tmp_path: Path) -> None:
    """A Latin-1 export read as UTF-8 names the encoding, not a UnicodeDecodeError."""
    path = tmp_path / "roster.csv"
    path.write_bytes(rows_to_csv([{**ROW, "surname": "Bj\u00f8rnstad"}]).encode("latin-1"))
    with pytest.raises(ValidationError) as info:
        read_roster(path)
    assert info.value.field == "encoding"
    assert "0xf8" in info.value.message
    assert read_roster(path, encoding="latin-1").rows[0].surname == "Bj\u00f8rnstad"


def test_roster_field_over_the_csv_limit_is_a_validation_error() -> None:
    """A cell larger than csv's field limit (128 KiB) is refused, not a csv.Error."""
    text = rows_to_csv([{**ROW, "rank": "x" * 140_000}])
    with pytest.raises(ValidationError) as info:
        parse_roster(text)
    assert info.value.field == "roster"


@pytest.mark.parametrize("delimiter", ["", ";;", "\n"])
def test_roster_delimiter_must_be_one_usable_character(delimiter: str) -> None:
    """--delimiter ';;' is a validation error, not a TypeError from csv."""
    with pytest.raises(ValidationError) as info:
        parse_roster(rows_to_csv([ROW]), delimiter=delimiter)
    assert info.value.field == "delimiter"


def test_roster_header_over_the_csv_limit_is_a_validation_error() -> None:
    """The header row is read by csv too: an oversized header cell is refused the same way."""
    with pytest.raises(ValidationError) as info:
        parse_roster("First Name," + "x" * 140_000 + "\nAnna,Berg\n")
    assert info.value.field == "roster"
