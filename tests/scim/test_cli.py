"""``rpkit crew sync`` and ``rpkit scim ...`` through ``rpkit.scim.cli.main`` on the sandbox."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rpkit.scim import ScimClient, ScimConfig
from rpkit.scim.cli import main
from rpkit.scim.roster import rows_to_csv
from rpkit.testing import (
    SCIM_READONLY_CLIENT_ID,
    SCIM_READONLY_CLIENT_SECRET,
    SandboxHandle,
)

from .helpers import INGRID, INGRID_ID, POLAR, Sleeps, in_days
from .test_sync import new_row, seed_rows

Capture = pytest.CaptureFixture[str]


def _factory(config: ScimConfig) -> ScimClient:
    return ScimClient(config, sleep=Sleeps())


def _run(argv: list[str], env: dict[str, str]) -> int:
    return main(argv, environ=env, client_factory=_factory)


def test_crew_sync_dry_run_then_apply(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """Dry run prints the plan and sends nothing; --apply applies with a progress bar."""
    rows = seed_rows(client)
    next(r for r in rows if r["email"] == INGRID).update(
        imo=POLAR, ship_name="MT Polar Voyager", contract_start=in_days(3)
    )
    rows.append(new_row(1))
    roster = tmp_path / "roster.csv"
    roster.write_text(rows_to_csv(rows), encoding="utf-8")

    assert _run(["crew", "sync", str(roster)], env) == 0
    out = capsys.readouterr().out
    assert re.search(r"^create\s+\d+\s+kari1@nordic-aurora\.example", out, re.M)
    assert re.search(r"^transfer\s+\d+\s+" + re.escape(INGRID), out, re.M)
    assert re.search(r"^departure\s+piotr", out, re.M)
    assert "dry run" in out and "1 create, 1 transfer, 1 departure" in out
    assert client.find_user(external_id="EMP-7001") is None

    assert _run(["crew", "sync", str(roster), "--apply", "--departure-policy", "keep"], env) == 0
    captured = capsys.readouterr()
    assert "applied 2, failed 0" in captured.out
    # stderr is not a terminal here: progress lines, no bar redrawn with \r.
    assert captured.err == "progress: 1/2 (50 %)\nprogress: 2/2 (100 %)\n"
    assert client.get_user(INGRID_ID).crew.ship_imo == POLAR

    assert _run(["crew", "sync", str(roster), "--departure-policy", "keep"], env) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_crew_sync_reports_failed_rows(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """Failed rows are listed with reason and correlationId, and the exit code is 1;
    an invalid row is counted apart."""
    rows = [new_row(1, imo="9074729"), new_row(2), new_row(3, imo="9312457")]
    roster = tmp_path / "roster.csv"
    roster.write_text(rows_to_csv(rows), encoding="utf-8")
    code = _run(["crew", "sync", str(roster), "--apply", "--departure-policy", "keep"], env)
    out = capsys.readouterr().out
    assert code == 1
    assert "applied 1, failed 1, invalid 1 (not sent)" in out
    assert "CORRELATION ID" in out
    assert re.search(r"does not match a ship.*[0-9a-f]{8}-[0-9a-f]{4}-", out)
    assert "check digit" in out


def test_crew_sync_custom_columns(
    tmp_path: Path, env: dict[str, str], client: ScimClient, capsys: Capture
) -> None:
    """--columns maps the export's own header names."""
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Given,Family,Mail,Staff\nKari,Hansen,kari@nordic-aurora.example,E-1\n", encoding="utf-8"
    )
    columns = "first_name=Given,surname=Family,email=Mail,employee_id=Staff"
    code = _run(
        [
            "crew",
            "sync",
            str(roster),
            "--columns",
            columns,
            "--departure-policy",
            "keep",
            "--apply",
        ],
        env,
    )
    assert code == 0, capsys.readouterr()
    user = client.find_user(external_id="E-1")
    assert user is not None and user.crew.ship_imo is None


def test_crew_sync_missing_column(tmp_path: Path, env: dict[str, str], capsys: Capture) -> None:
    """A roster without a required column is refused before anything is sent."""
    roster = tmp_path / "roster.csv"
    roster.write_text("Name,Mail\nKari,kari@x.example\n", encoding="utf-8")
    assert _run(["crew", "sync", str(roster)], env) == 1
    assert "invalid columns" in capsys.readouterr().err


def test_users_commands(env: dict[str, str], client: ScimClient, capsys: Capture) -> None:
    """users list/get/create/update/delete work end to end."""
    assert _run(["scim", "users", "list"], env) == 0
    out = capsys.readouterr().out
    assert INGRID in out and "MV Nordic Aurora" in out

    assert _run(["scim", "users", "list", "--filter", "externalId=EMP-1001", "--json"], env) == 0
    assert [u["id"] for u in json.loads(capsys.readouterr().out)] == [INGRID_ID]

    assert _run(["scim", "users", "get", INGRID_ID], env) == 0
    assert json.loads(capsys.readouterr().out)["userName"] == INGRID

    create = [
        "scim", "users", "create", "--user-name", "cli@nordic-aurora.example",
        "--given-name", "Cli", "--family-name", "User", "--external-id", "CLI-1",
        "--ship-imo", POLAR, "--contract-start", in_days(1), "--rank", "AB",
        "--personal-email", "cli@home.example",
    ]  # fmt: skip
    assert _run(create, env) == 0
    created = json.loads(capsys.readouterr().out)
    ext = created["urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew"]
    assert ext["shipName"] == "MT Polar Voyager" and ext["forceChangePassword"] is True

    assert _run(["scim", "users", "update", created["id"], "--rank", "Bosun"], env) == 0
    updated = client.get_user(created["id"])
    assert updated.crew.rank == "Bosun" and updated.crew.ship_imo == POLAR
    assert updated.external_id == "CLI-1" and len(updated.emails) == 2
    capsys.readouterr()

    assert _run(["scim", "users", "update", created["id"], "--inactive"], env) == 0
    assert client.get_user(created["id"]).active is False
    capsys.readouterr()

    assert _run(["scim", "users", "delete", created["id"]], env) == 0
    assert client.find_user(external_id="CLI-1") is None
    capsys.readouterr()

    assert _run(["scim", "users", "get", created["id"]], env) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "correlationId" in err


def test_users_create_validation_error(env: dict[str, str], capsys: Capture) -> None:
    """Validation errors name the field and exit 1."""
    argv = ["scim", "users", "create", "--user-name", "nope", "--given-name", "A"]
    assert _run([*argv, "--family-name", "B"], env) == 1
    assert "invalid userName" in capsys.readouterr().err
    bad_filter = ["scim", "users", "list", "--filter", "displayName=x"]
    assert _run(bad_filter, env) == 1
    assert "invalid filter" in capsys.readouterr().err


def test_groups_commands(env: dict[str, str], client: ScimClient, capsys: Capture) -> None:
    """groups list/get/create/rename/add-member/remove-member/delete work end to end."""
    assert _run(["scim", "groups", "list"], env) == 0
    assert "Deck Officers" in capsys.readouterr().out
    assert _run(["scim", "groups", "create", "Bridge", "--member", INGRID_ID], env) == 0
    group_id = json.loads(capsys.readouterr().out)["id"]
    assert _run(["scim", "groups", "rename", group_id, "Bridge Team"], env) == 0
    assert json.loads(capsys.readouterr().out)["members"][0]["value"] == INGRID_ID
    assert _run(["scim", "groups", "add-member", group_id, "87235"], env) == 0
    assert _run(["scim", "groups", "remove-member", group_id, INGRID_ID], env) == 0
    capsys.readouterr()
    assert _run(["scim", "groups", "get", group_id], env) == 0
    assert [m["value"] for m in json.loads(capsys.readouterr().out)["members"]] == ["87235"]
    assert _run(["scim", "groups", "list", "--json"], env) == 0
    assert len(json.loads(capsys.readouterr().out)) == 5
    assert _run(["scim", "groups", "delete", group_id], env) == 0
    assert client.find_group("Bridge Team") is None


def test_flags_override_env_and_readonly_is_refused(
    sandbox: SandboxHandle, capsys: Capture
) -> None:
    """Flags override the environment; a crew_read client cannot write (exit 1, 403)."""
    env = {
        "RPKIT_SCIM_CLIENT_SECRET": SCIM_READONLY_CLIENT_SECRET,
        "RPKIT_SCIM_BASE_URL": "https://apps.example.invalid/api/scim/v2",
    }
    flags = [
        "--base-url", sandbox.urls["scim_base"], "--token-url", sandbox.urls["token"],
        "--client-id", SCIM_READONLY_CLIENT_ID, "--scope", "crew_read",
    ]  # fmt: skip
    assert _run(["scim", "users", "list", *flags], env) == 0
    capsys.readouterr()
    assert _run(["scim", "users", "delete", INGRID_ID, *flags], env) == 1
    assert "HTTP 403" in capsys.readouterr().err


def test_missing_configuration(capsys: Capture) -> None:
    """Without credentials the command says what is missing and exits 2."""
    assert _run(["scim", "users", "list"], {}) == 2
    assert "client_id" in capsys.readouterr().err
    assert _run([], {}) == 2


def test_add_subcommands_wires_into_a_parent_parser(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    """add_subcommands plugs into a parser the way rpkit.cli registers commands."""
    import argparse

    from rpkit.scim.cli import add_subcommands

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parser = argparse.ArgumentParser(prog="rpkit")
    add_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["scim", "users", "get", INGRID_ID])
    assert args.handler(args) == 0
    assert json.loads(capsys.readouterr().out)["id"] == INGRID_ID


def test_rpkit_command_serves_scim_subcommands(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    """The `rpkit` command carries the scim and crew subcommands."""
    import rpkit.cli

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert rpkit.cli.main(["scim", "groups", "get", "6480"]) == 0
    assert json.loads(capsys.readouterr().out)["displayName"] == "Deck Officers"


def test_unknown_variable_is_refused_before_any_call(env: dict[str, str], capsys: Capture) -> None:
    """A misspelt RPKIT_* variable stops the command with a suggestion and exit code 2."""
    assert _run(["scim", "users", "list"], {**env, "RPKIT_HTTP_TIMOUT": "3"}) == 2
    assert 'did you mean "RPKIT_HTTP_TIMEOUT"' in capsys.readouterr().err
