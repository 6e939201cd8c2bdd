"""``rpkit crew sync`` for scripts and real exports: --json, --strict, the departure guard,
encodings, date formats and progress output."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rpkit.scim import ScimClient
from rpkit.scim._cli_handlers import progress_printer
from rpkit.scim.roster import rows_to_csv
from rpkit.scim.sync import PlannedAction

from .helpers import INGRID, SEED_USERS, in_days, new_user
from .test_cli import Capture, _run
from .test_sync import Row, _by_email, new_row, seed_rows

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "crew-sync.schema.json").read_text()
)


def _write(tmp_path: Path, rows: list[Row], name: str = "roster.csv") -> str:
    path = tmp_path / name
    path.write_text(rows_to_csv(rows), encoding="utf-8")
    return str(path)


def _json(capsys: Capture) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, SCHEMA)
    return document


# -- --json ------------------------------------------------------------------------------


def test_json_plan_and_report_match_the_documented_shape(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """--json prints the plan (dry run) and the report (--apply) as the schema in docs
    describes, with exact counts."""
    rows = seed_rows(client)
    _by_email(rows, INGRID)["rank"] = "Chief Officer"
    rows += [new_row(1), new_row(2, imo="9312457")]  # the second: bad check digit
    roster = _write(tmp_path, rows)

    assert _run(["crew", "sync", roster, "--json"], env) == 0
    plan = _json(capsys)
    assert plan["mode"] == "dry_run" and plan["result"] is None and plan["error"] is None
    assert {k: v for k, v in plan["summary"].items() if v} == {
        "create": 1,
        "update": 1,
        "departure": 1,
        "invalid": 1,
        "unchanged": 5,
    }
    assert plan["departures"] == {"planned": 1, "limit": 5, "managed": 8, "allowed": True}
    update = next(a for a in plan["actions"] if a["action"] == "update")
    assert update["userName"] == INGRID and update["changes"] == [
        {"field": "rank", "old": "Master", "new": "Chief Officer"}
    ]
    invalid = next(a for a in plan["actions"] if a["action"] == "invalid")
    assert "check digit" in invalid["notes"][0]

    assert _run(["crew", "sync", roster, "--json", "--apply"], env) == 0
    applied = _json(capsys)
    assert applied["mode"] == "apply"
    assert applied["result"] == {"applied": 3, "failed": 0, "invalid": 1, "failures": []}


def test_json_failures_carry_status_and_correlation_id(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """A row Dualog refuses is a failure with its status and correlationId; exit 1."""
    roster = _write(tmp_path, [*seed_rows(client), new_row(1, imo="9074729")])  # no such ship
    code = _run(["crew", "sync", roster, "--json", "--apply", "--departure-policy", "keep"], env)
    document = _json(capsys)
    assert code == 1
    [failure] = document["result"]["failures"]
    assert failure["status"] == 400 and failure["correlationId"]
    assert failure["userName"] == "kari1@nordic-aurora.example" and failure["line"] == 8


# -- --strict and invalid rows -----------------------------------------------------------


def test_invalid_rows_exit_1_only_with_strict(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """A dry run with an invalid row exits 0, or 1 with --strict; --apply --strict sends
    nothing; --apply without it sends the rest and counts the row as invalid, not failed."""
    roster = _write(tmp_path, [*seed_rows(client), new_row(1), new_row(2, imo="9312457")])
    keep = ["--departure-policy", "keep"]
    assert _run(["crew", "sync", roster, *keep], env) == 0
    assert _run(["crew", "sync", roster, "--strict", *keep], env) == 1
    capsys.readouterr()

    assert _run(["crew", "sync", roster, "--apply", "--strict", *keep], env) == 1
    err = capsys.readouterr().err
    assert "refusing to apply: 1 invalid rows (--strict)" in err
    assert client.find_user(external_id="EMP-7001") is None

    assert _run(["crew", "sync", roster, "--apply", *keep], env) == 0
    assert "applied 1, failed 0, invalid 1 (not sent)" in capsys.readouterr().out
    assert client.find_user(external_id="EMP-7001") is not None


# -- departure guard ---------------------------------------------------------------------


def test_departure_guard_refuses_then_passes_with_the_flag(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """6 departures of 8 managed users: the dry run shows the count against the limit,
    --apply refuses naming --max-departures, and --max-departures 6 applies them."""
    roster = _write(tmp_path, seed_rows(client)[:1])

    assert _run(["crew", "sync", roster], env) == 0
    out = capsys.readouterr().out
    assert "departures: 6 of at most 5 (10 % of 8 managed users, at least 5)" in out
    assert "--apply will refuse" in out

    assert _run(["crew", "sync", roster, "--apply"], env) == 1
    captured = capsys.readouterr()
    assert "--max-departures 6" in captured.err and "Traceback" not in captured.err
    assert sum(u.active for u in client.list_users()) == 7  # nobody departed

    assert _run(["crew", "sync", roster, "--apply", "--max-departures", "6"], env) == 0
    assert "applied 6, failed 0" in capsys.readouterr().out
    assert sum(u.active for u in client.list_users()) == 1


def test_refused_apply_in_json_names_the_flag(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """With --json, a refused apply has result null and the reason in "error"."""
    roster = _write(tmp_path, seed_rows(client)[:1])
    assert _run(["crew", "sync", roster, "--apply", "--json"], env) == 1
    document = _json(capsys)
    assert document["result"] is None and "--max-departures" in document["error"]
    assert document["departures"]["allowed"] is False


# -- encodings ---------------------------------------------------------------------------

NORDIC = {"first_name": "Bjørn", "surname": "Sæther-Åsen"}


def _export(tmp_path: Path, client: ScimClient, encoding: str, *, tabs: bool = False) -> str:
    text = rows_to_csv([*seed_rows(client), new_row(1, **NORDIC)])
    if tabs:  # Excel's "Unicode text" export is tab-separated UTF-16 with a BOM
        text = text.replace(",", "\t")
    path = tmp_path / f"export-{encoding}.csv"
    path.write_bytes(text.encode(encoding))
    return str(path)


def _created_name(client: ScimClient) -> tuple[str, str]:
    user = client.find_user(external_id="EMP-7001")
    assert user is not None
    return user.given_name, user.family_name


def test_cp1252_export_needs_encoding(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """A Windows export fails cleanly without --encoding (suggesting cp1252) and syncs
    with it, names intact."""
    roster = _export(tmp_path, client, "cp1252")
    assert _run(["crew", "sync", roster, "--apply"], env) == 1
    captured = capsys.readouterr()
    assert "--encoding cp1252" in captured.err and "line 8" in captured.err
    assert "Traceback" not in captured.err + captured.out

    assert _run(["crew", "sync", roster, "--apply", "--encoding", "cp1252"], env) == 0
    assert _created_name(client) == ("Bjørn", "Sæther-Åsen")


@pytest.mark.parametrize("flag", [[], ["--encoding", "utf-16"]], ids=["detected", "named"])
def test_utf16_export_with_bom(
    tmp_path: Path, env: dict[str, str], client: ScimClient, flag: list[str]
) -> None:
    """Excel's UTF-16 "Unicode text" (BOM, tabs) syncs with or without --encoding."""
    roster = _export(tmp_path, client, "utf-16", tabs=True)
    assert _run(["crew", "sync", roster, "--apply", "--departure-policy", "keep", *flag], env) == 0
    assert _created_name(client) == ("Bjørn", "Sæther-Åsen")


def test_utf16_without_bom_needs_encoding(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """UTF-16 without a BOM is named as such in the error; --encoding utf-16-le reads it."""
    roster = _export(tmp_path, client, "utf-16-le")
    assert _run(["crew", "sync", roster], env) == 1
    assert "--encoding utf-16" in capsys.readouterr().err
    code = _run(["crew", "sync", roster, "--apply", "--encoding", "utf-16-le"], env)
    assert code == 0
    assert _created_name(client) == ("Bjørn", "Sæther-Åsen")


def test_utf8_with_bom_and_unknown_encoding(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """A UTF-8 BOM is detected; an unknown --encoding is a clear error, not a traceback."""
    roster = _export(tmp_path, client, "utf-8-sig")
    assert _run(["crew", "sync", roster, "--apply"], env) == 0
    assert _created_name(client) == ("Bjørn", "Sæther-Åsen")
    assert _run(["crew", "sync", roster, "--encoding", "klingon"], env) == 1
    assert "unknown encoding 'klingon'" in capsys.readouterr().err


# -- dates -------------------------------------------------------------------------------


def test_date_format_dmy_or_the_row_is_reported(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """dd.mm.yyyy dates make the row invalid (naming --date-format) under the default,
    and are read with --date-format dmy."""
    start, end = in_days(3), in_days(183)
    dmy = {
        "contract_start": ".".join(reversed(start.split("-"))),
        "contract_end": ".".join(reversed(end.split("-"))),
    }
    roster = _write(tmp_path, [*seed_rows(client), new_row(1, **dmy)])
    assert _run(["crew", "sync", roster, "--json"], env) == 0
    [invalid] = [a for a in _json(capsys)["actions"] if a["action"] == "invalid"]
    assert "--date-format" in invalid["notes"][0] and invalid["line"] == 8

    assert _run(["crew", "sync", roster, "--apply", "--date-format", "dmy"], env) == 0
    created = client.find_user(external_id="EMP-7001")
    assert created is not None and created.crew.contract_end_date == end


# -- progress ----------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _feed(stream: io.StringIO, total: int) -> str:
    show = progress_printer(stream)
    action = PlannedAction(action="create", user_name="kari@nordic-aurora.example")
    for done in range(1, total + 1):
        show(done, total, action)
    return stream.getvalue()


def test_progress_is_a_bar_on_a_terminal() -> None:
    """On a TTY the bar is redrawn in place with \\r and ends with a newline."""
    out = _feed(_Terminal(), 25)
    assert out.count("\r") == 25 and out.endswith("\n") and "25/25" in out
    assert "#" * 30 in out


def test_progress_is_a_line_per_tenth_in_a_log() -> None:
    """Off a TTY: no \\r frames, one line per 10 %."""
    out = _feed(io.StringIO(), 25)
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 10
    assert lines[0] == "progress: 3/25 (10 %)" and lines[-1] == "progress: 25/25 (100 %)"


def test_workers_flag_is_bounded(tmp_path: Path, env: dict[str, str], capsys: Capture) -> None:
    """--workers 0 is a usage error."""
    with pytest.raises(SystemExit) as caught:
        _run(["crew", "sync", str(tmp_path / "x.csv"), "--workers", "0"], env)
    assert caught.value.code == 2
    assert "expected 1-32" in capsys.readouterr().err


# -- who the sync manages ------------------------------------------------------------------


def test_empty_roster_departs_nobody_unless_allowed(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """A header-only export is refused naming the option (nothing planned, nothing sent);
    --allow-empty-roster plans the departures of every managed user."""
    roster = _write(tmp_path, [])

    assert _run(["crew", "sync", roster, "--apply"], env) == 1
    err = capsys.readouterr().err
    assert "invalid roster: the roster has no rows" in err and "allow_empty_roster" in err
    assert sum(u.active for u in client.list_users()) == SEED_USERS - 1  # Lena was inactive

    assert _run(["crew", "sync", roster, "--allow-empty-roster", "--json"], env) == 0
    assert _json(capsys)["summary"]["departure"] == SEED_USERS - 1


def test_users_without_external_id_are_managed_only_with_the_flag(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """A user created by hand (no externalId) is never a departure, unless
    --manage-users-without-external-id makes such users CMS-managed."""
    roster = _write(tmp_path, seed_rows(client))
    office = client.create_user(new_user(1, external_id=None))

    def departures(*flags: str) -> set[str]:
        assert _run(["crew", "sync", roster, "--json", *flags], env) == 0
        actions = _json(capsys)["actions"]
        return {a["userName"] for a in actions if a["action"] == "departure"}

    assert office.user_name not in departures()
    assert office.user_name in departures("--manage-users-without-external-id")
