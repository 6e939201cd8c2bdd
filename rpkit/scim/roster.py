"""Read a crew roster exported from a Crew Management System (CSV).

The columns are the fields Dualog's CMS guide lists under "Data Synchronized": first name,
surname, email, rank, employee id (sent as ``externalId``), ship name, IMO number,
contract start and end, personal email and phone. Header names are configurable; matching
ignores case and surrounding spaces. A row that breaks a rule is kept with its
``problem`` set, so the sync reports it instead of treating the person as departed.

CMS exports come in whatever encoding the exporting machine used (Windows: cp1252; Excel's
"Unicode text": UTF-16) and with local date formats; both are named by the caller, with
UTF-8 (BOM detected) and ISO dates as the defaults, and a wrong guess is a clear error.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from pathlib import Path

from ..errors import ValidationError
from .validation import validate_email, validate_imo

__all__ = [
    "DATE_FORMATS",
    "Roster",
    "RosterColumns",
    "RosterRow",
    "decode_roster",
    "parse_roster",
    "read_roster",
    "rows_to_csv",
]

# Named date formats (``--date-format``); anything else is a strptime pattern. Day-first
# and month-first cannot be told apart from "03/05/2026", so the caller names the order.
DATE_FORMATS: dict[str, tuple[str, ...]] = {
    "iso": ("%Y-%m-%d",),
    "ymd": ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"),
    "dmy": ("%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y"),
    "mdy": ("%m/%d/%Y", "%m-%d-%Y"),
}
# Unambiguous wherever they appear, so every named format accepts them too: a month
# name ("05-Mar-2026", "5 March 2026") and an ISO date-time ("2026-03-05T00:00:00",
# what database and Excel exports write for a date column).
_MONTH_NAMES = ("%d-%b-%Y", "%d %b %Y", "%d %B %Y", "%d-%B-%Y", "%b %d %Y", "%B %d %Y")
_ISO_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}")
_DATE_HELP = "dmy, mdy, ymd, iso or a strptime pattern such as %d/%m/%Y"


@dataclass(frozen=True, kw_only=True, slots=True)
class RosterColumns:
    """Header name of each roster field (defaults: the CMS guide's field names)."""

    first_name: str = "First Name"
    surname: str = "Surname"
    email: str = "Email Address"
    rank: str = "Rank"
    employee_id: str = "Employee ID"
    ship_name: str = "Ship Name"
    imo: str = "IMO Number"
    contract_start: str = "Contract Start Date"
    contract_end: str = "Contract End Date"
    personal_email: str = "Personal Email"
    phone: str = "Phone Number"
    department: str = "Department"

    @classmethod
    def from_spec(cls, spec: str) -> RosterColumns:
        """Parse ``"email=E-mail,imo=IMO"`` (field=header pairs; ``;`` also separates).

        Raises:
            ValidationError: unknown field name or a pair without ``=``.
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, str] = {}
        for pair in spec.replace(";", ",").split(","):
            if not pair.strip():
                continue
            name, sep, header = pair.partition("=")
            name = name.strip().lower().replace("-", "_")
            if not sep or not header.strip():
                raise ValidationError(
                    "columns", f"column mapping {pair.strip()!r} needs field=Header"
                )
            if name not in known:
                raise ValidationError(
                    "columns", f"unknown roster field {name!r}; known: {', '.join(sorted(known))}"
                )
            values[name] = header.strip()
        return cls(**values)


@dataclass(frozen=True, kw_only=True, slots=True)
class RosterRow:
    """One crew member as the CMS sees them. ``line`` is the CSV line number."""

    line: int
    first_name: str
    surname: str
    email: str
    employee_id: str | None = None
    rank: str | None = None
    department: str | None = None
    ship_name: str | None = None
    ship_imo: str | None = None
    contract_start: date | None = None
    contract_end: date | None = None
    personal_email: str | None = None
    phone: str | None = None
    problem: ValidationError | None = field(default=None, compare=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class Roster:
    """The rows of one export, in file order."""

    rows: tuple[RosterRow, ...]

    @property
    def valid_rows(self) -> tuple[RosterRow, ...]:
        return tuple(r for r in self.rows if r.problem is None)


_REQUIRED = ("first_name", "surname", "email")


def _cell(record: Mapping[str, str], header: str | None) -> str | None:
    if header is None:
        return None
    value = record.get(header)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _normalize_imo(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.upper().removeprefix("IMO").replace(" ", "").strip()
    return text or None


def _patterns(date_format: str) -> tuple[str, ...]:
    named = DATE_FORMATS.get(date_format.lower())
    if named is not None:
        return named + _MONTH_NAMES
    if "%" not in date_format:
        raise ValidationError(
            "date_format", f"unknown date format {date_format!r}; use {_DATE_HELP}"
        )
    return (date_format,)


def _date(value: str | None, field_name: str, date_format: str) -> date | None:
    if value is None:
        return None
    patterns = _patterns(date_format)
    if date_format.lower() in DATE_FORMATS:
        stamp = _ISO_DATETIME.match(value)
        if stamp is not None:
            value = stamp.group(1)
            patterns = ("%Y-%m-%d",)
    for pattern in patterns:
        try:
            return datetime.strptime(value.replace(",", " ").strip(), pattern).date()
        except ValueError:
            continue
    raise ValidationError(
        field_name,
        f'"{field_name}" {value!r} is not a date in the format {date_format}; '
        f"set --date-format ({_DATE_HELP})",
    )


def _row(
    line: int, record: Mapping[str, str], headers: Mapping[str, str | None], date_format: str
) -> RosterRow:
    def cell(name: str) -> str | None:
        return _cell(record, headers[name])

    base = RosterRow(
        line=line,
        first_name=cell("first_name") or "",
        surname=cell("surname") or "",
        email=cell("email") or "",
        employee_id=cell("employee_id"),
        rank=cell("rank"),
        department=cell("department"),
        ship_name=cell("ship_name"),
        ship_imo=_normalize_imo(cell("imo")),
        personal_email=cell("personal_email"),
        phone=cell("phone"),
    )
    try:
        if not base.first_name:
            raise ValidationError("name.givenName", "first name is empty")
        if not base.surname:
            raise ValidationError("name.familyName", "surname is empty")
        validate_email(base.email, "userName")
        if base.personal_email is not None:
            validate_email(base.personal_email, "emails")
        if base.ship_imo is not None:
            validate_imo(base.ship_imo, ship_name=base.ship_name)
        start = _date(cell("contract_start"), "contractStartDate", date_format)
        end = _date(cell("contract_end"), "contractEndDate", date_format)
        if base.ship_imo is not None and start is None:
            raise ValidationError(
                "contractStartDate", "a ship assignment needs a contract start date"
            )
        if start is not None and end is not None and end < start:
            raise ValidationError(
                "contractEndDate",
                f"contract end {end.isoformat()} is before its start {start.isoformat()}",
            )
    except ValidationError as err:
        return replace(base, problem=err)
    return replace(base, contract_start=start, contract_end=end)


def parse_roster(
    text: str,
    *,
    columns: RosterColumns | None = None,
    date_format: str = "iso",
    delimiter: str | None = None,
) -> Roster:
    """Parse a CMS export. The delimiter (``,`` ``;`` or tab) is detected unless given.

    ``date_format`` is a name from :data:`DATE_FORMATS` or a strptime pattern; a date that
    does not match makes its row invalid (reported), not the file.

    Raises:
        ValidationError: ``field="columns"`` when a required column (first name, surname,
            email) is missing from the header, or the file has no header;
            ``field="date_format"`` for an unknown format name; ``field="encoding"`` when
            the text holds NUL characters (UTF-16 read as a single-byte encoding);
            ``field="roster"`` for text that is not readable CSV (a field over the size
            limit...); ``field="delimiter"`` for a delimiter that is not one character.
    """
    columns = columns or RosterColumns()
    _patterns(date_format)  # an unknown name fails here, not once per row
    text = text.removeprefix("\ufeff")  # Excel writes a BOM
    if "\x00" in text:
        raise ValidationError(
            "encoding",
            "the roster holds NUL characters: it looks like UTF-16; pass --encoding utf-16",
        )
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '\r\n"\x00'):
        raise ValidationError(
            "delimiter", f"the delimiter must be one character, got {delimiter!r}"
        )
    if delimiter is None:
        first = text.split("\n", 1)[0]
        delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _parse_records(reader, columns, date_format)
    except csv.Error as err:
        # The header row (data rows are checked as they are read): a field over the limit.
        raise ValidationError("roster", f"line {reader.line_num}: not valid CSV ({err})") from err


def _parse_records(reader: csv.DictReader[str], columns: RosterColumns, date_format: str) -> Roster:
    present = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
    if not present:
        raise ValidationError("columns", "the roster has no header row")
    headers: dict[str, str | None] = {}
    for f in fields(columns):
        wanted = getattr(columns, f.name)
        headers[f.name] = present.get(wanted.strip().lower())
        if headers[f.name] is None and f.name in _REQUIRED:
            raise ValidationError(
                "columns",
                f"the roster has no {wanted!r} column ({f.name}); columns: "
                f"{', '.join(h for h in present.values() if h)}",
            )
    rows = []
    try:
        for record in reader:
            if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
                continue
            rows.append(_row(reader.line_num, record, headers, date_format))
    except csv.Error as err:
        raise ValidationError("roster", f"line {reader.line_num}: not valid CSV ({err})") from err
    return Roster(rows=tuple(rows))


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_roster(data: bytes, encoding: str | None = None) -> str:
    """Decode an export: with ``encoding``, strictly as that; without, by its BOM (UTF-8,
    UTF-16, UTF-32), else as UTF-8.

    Raises:
        ValidationError: ``field="encoding"``: an unknown encoding, or bytes that do not
            decode; the message names the line and suggests ``--encoding cp1252`` (a
            Windows export) or ``utf-16`` (NUL bytes without a BOM).
    """
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as err:
            raise ValidationError("encoding", f"unknown encoding {encoding!r}") from err
        chosen = encoding
    else:
        chosen = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(chosen)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        byte = data[err.start : err.start + 1].hex()
        if encoding is None and b"\x00" in data[:200]:
            hint = "it looks like UTF-16 without a BOM: pass --encoding utf-16-le"
        elif codecs.lookup(chosen).name.startswith("utf-8"):
            hint = "if it was exported on Windows, pass --encoding cp1252"
        else:
            hint = "check --encoding"
        raise ValidationError(
            "encoding", f"the roster is not {chosen} (byte 0x{byte} on line {line}); {hint}"
        ) from err


def read_roster(
    path: str | Path,
    *,
    columns: RosterColumns | None = None,
    date_format: str = "iso",
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Roster:
    """Read a CMS export file; see :func:`decode_roster` and :func:`parse_roster`."""
    text = decode_roster(Path(path).read_bytes(), encoding)
    return parse_roster(text, columns=columns, date_format=date_format, delimiter=delimiter)


def rows_to_csv(rows: Iterable[Mapping[str, str]], columns: RosterColumns | None = None) -> str:
    """Write rows keyed by roster field names as CSV with ``columns``' headers (for tests
    and exports)."""
    columns = columns or RosterColumns()
    names = [f.name for f in fields(columns)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([getattr(columns, n) for n in names])
    for row in rows:
        writer.writerow([row.get(n, "") for n in names])
    return out.getvalue()
