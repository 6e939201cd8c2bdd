"""Roster sync against the sandbox: each CMS lifecycle case, idempotence and failures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rpkit.errors import ValidationError
from rpkit.scim import Filter, ScimClient, User
from rpkit.scim.roster import Roster, RosterColumns, parse_roster, read_roster, rows_to_csv
from rpkit.scim.sync import SyncOptions, SyncPlan, apply_plan, plan_sync, sync_roster
from rpkit.testing import SandboxHandle

from .helpers import AURORA, INGRID, INGRID_ID, POLAR, SEED_USERS, in_days

PIOTR_ID = "87240"  # contract ended 20 days ago, still on MV Skagerrak Star
LENA_ID = "87241"  # inactive
MARIA_ID = "87236"
TOMAS_ID = "87235"

Row = dict[str, str]


def seed_rows(client: ScimClient, *, skip: tuple[str, ...] = (PIOTR_ID, LENA_ID)) -> list[Row]:
    """Roster rows saying exactly what the sandbox holds for the current crew."""
    rows = []
    for user in client.list_users():
        if user.id in skip:
            continue
        rows.append(
            {
                "first_name": user.given_name,
                "surname": user.family_name,
                "email": user.user_name,
                "employee_id": user.external_id or "",
                "rank": user.crew.rank or "",
                "department": user.crew.department or "",
                "ship_name": user.crew.ship_name or "",
                "imo": user.crew.ship_imo or "",
                "contract_start": user.crew.contract_start_date or "",
                "contract_end": user.crew.contract_end_date or "",
            }
        )
    return rows


def roster_of(rows: list[Row]) -> Roster:
    return parse_roster(rows_to_csv(rows))


def plan(client: ScimClient, rows: list[Row], policy: str = "keep") -> SyncPlan:
    options = SyncOptions(departure_policy=policy)  # type: ignore[arg-type]
    return plan_sync(roster_of(rows), client.list_users(), today=client.today(), options=options)


def run(client: ScimClient, rows: list[Row], policy: str = "keep") -> SyncPlan:
    """Plan and apply; assert everything applied and that a second run is empty."""
    first = plan(client, rows, policy)
    report = apply_plan(client, first)
    assert report.ok, [(f.action.action, f.reason) for f in report.failed]
    again = plan(client, rows, policy)
    assert again.is_empty, again.actions
    return first


def new_row(n: int = 1, **changes: str) -> Row:
    row = {
        "first_name": "Kari",
        "surname": f"Hansen{n}",
        "email": f"kari{n}@nordic-aurora.example",
        "employee_id": f"EMP-7{n:03d}",
        "rank": "Deck Cadet",
        "department": "Deck",
        "ship_name": "MV Nordic Aurora",
        "imo": AURORA,
        "contract_start": in_days(3),
        "contract_end": in_days(183),
        "personal_email": f"kari{n}@home.example",
        "phone": "+47 900 00 001",
    }
    row.update(changes)
    return row


def _by_email(rows: list[Row], email: str) -> Row:
    return next(r for r in rows if r["email"] == email)


def test_unchanged_roster_plans_nothing(client: ScimClient) -> None:
    """The roster of the current crew, under policy keep, is an empty plan."""
    result = plan(client, seed_rows(client))
    assert result.is_empty and result.unchanged == SEED_USERS - 2


def test_new_crew_member(sandbox: SandboxHandle, client: ScimClient) -> None:
    """A new row creates a user with the ship, work and personal email, forced password change."""
    rows = [*seed_rows(client), new_row(1)]
    first = run(client, rows)
    assert [a.action for a in first.actions] == ["create"]
    user = client.find_user(external_id="EMP-7001")
    assert user is not None and user.crew.ship_name == "MV Nordic Aurora"
    assert user.crew.contract_start_date == in_days(3)
    assert {(e.value, e.type) for e in user.emails} == {
        ("kari1@nordic-aurora.example", "work"),
        ("kari1@home.example", "home"),
    }
    assert user.crew.force_change_password is True and user.active


def test_new_crew_already_on_board_starts_today(client: ScimClient) -> None:
    """A start date in the past cannot be sent: the user starts today, and stays unchanged."""
    first = run(client, [*seed_rows(client), new_row(2, contract_start=in_days(-10))])
    assert first.actions[0].notes and "past" in first.actions[0].notes[0]
    user = client.find_user(external_id="EMP-7002")
    assert user is not None and user.crew.contract_start_date == in_days(0)


def test_new_crew_without_end_date_stays_idempotent(client: ScimClient) -> None:
    """Dualog's default end date (start + 1 year) is not fought on the next run."""
    run(client, [*seed_rows(client), new_row(3, contract_end="")])
    user = client.find_user(external_id="EMP-7003")
    assert user is not None and user.crew.contract_end_date is not None


def test_transfer(sandbox: SandboxHandle, client: ScimClient) -> None:
    """A new IMO number transfers the crew member: the old ship is replaced by the new."""
    rows = seed_rows(client)
    row = _by_email(rows, INGRID)
    row.update(imo=POLAR, ship_name="MT Polar Voyager", contract_start=in_days(5))
    first = run(client, rows)
    assert [a.action for a in first.actions] == ["transfer"]
    change = next(c for c in first.actions[0].changes if c.field == "shipImo")
    assert (change.old, change.new) == (AURORA, POLAR)
    user = client.get_user(INGRID_ID)
    assert user.crew.ship_name == "MT Polar Voyager" and user.external_id == "EMP-1001"
    assert [g.value for g in user.groups] == ["6480"]


def test_sign_off_when_contract_ended(sandbox: SandboxHandle, client: ScimClient) -> None:
    """An end date in the past signs off: ship access revoked, cloud identity active."""
    rows = seed_rows(client)
    _by_email(rows, INGRID).update(contract_end=in_days(-1))
    first = run(client, rows)
    assert [a.action for a in first.actions] == ["sign_off"]
    user = client.get_user(INGRID_ID)
    assert user.crew.ship_imo is None and user.active
    assert sandbox.password_tokens(INGRID)["access_token"]


def test_sign_off_when_ship_removed(client: ScimClient) -> None:
    """A row without ship and IMO signs off."""
    rows = seed_rows(client)
    tomas = next(r for r in rows if r["employee_id"] == "EMP-1002")
    tomas.update(imo="", ship_name="", contract_start="", contract_end="")
    first = run(client, rows)
    assert [(a.action, a.user_id) for a in first.actions] == [("sign_off", TOMAS_ID)]
    assert client.get_user(TOMAS_ID).crew.ship_imo is None


def test_sign_off_of_crew_whose_contract_ended_in_dualog(client: ScimClient) -> None:
    """Piotr's contract ended: his unchanged CMS row signs him off."""
    first = run(client, seed_rows(client, skip=(LENA_ID,)))
    assert [(a.action, a.user_id) for a in first.actions] == [("sign_off", PIOTR_ID)]


@pytest.mark.parametrize("policy", ["disable", "delete", "keep"])
def test_departure_policies(sandbox: SandboxHandle, client: ScimClient, policy: str) -> None:
    """Crew absent from the roster are disabled, deleted or kept, as configured."""
    rows = [r for r in seed_rows(client) if r["employee_id"] != "EMP-1003"]  # Maria leaves
    hand_made = client.create_user(
        User(user_name="office@nordic-aurora.example", given_name="Office", family_name="Staff")
    )
    first = run(client, rows, policy)
    departed = {a.user_id for a in first.actions if a.action == "departure"}
    if policy == "disable":
        assert departed == {MARIA_ID, PIOTR_ID}  # Lena is already inactive
        assert client.get_user(MARIA_ID).active is False
        assert client.get_user(MARIA_ID).crew.ship_imo == POLAR  # only active changes
    elif policy == "delete":
        assert departed == {MARIA_ID, PIOTR_ID, LENA_ID}
        assert client.find_user(external_id="EMP-1003") is None
    else:
        assert departed == set() and client.get_user(MARIA_ID).active
    assert client.get_user(str(hand_made.id)).active  # no externalId: not CMS-managed


def test_returning_crew_is_reactivated(client: ScimClient) -> None:
    """An inactive user back in the roster is re-activated by an update."""
    rows = seed_rows(client, skip=(PIOTR_ID,))
    first = run(client, rows)
    assert [(a.action, a.user_id) for a in first.actions] == [("update", LENA_ID)]
    assert client.get_user(LENA_ID).active


def test_update_and_match_by_email(client: ScimClient) -> None:
    """A rank change is an update; a user without externalId is matched by email and gets one."""
    rows = seed_rows(client)
    client.create_user(
        User(user_name="cook@nordic-aurora.example", given_name="A", family_name="B")
    )
    _by_email(rows, INGRID)["rank"] = "Chief Officer"
    rows.append(new_row(9, email="cook@nordic-aurora.example", first_name="A", surname="B"))
    first = run(client, rows)
    assert sorted(a.action for a in first.actions) == ["update", "update"]
    assert client.get_user(INGRID_ID).crew.rank == "Chief Officer"
    cook = client.find_user(user_name="cook@nordic-aurora.example")
    assert cook is not None and cook.external_id == "EMP-7009"


def test_failures_are_reported_and_stop_nothing(sandbox: SandboxHandle, client: ScimClient) -> None:
    """Server refusals fail with reason and correlationId; invalid rows are counted as
    invalid (never sent), not as failed."""
    rows = seed_rows(client)
    rows.append(new_row(1, imo="9312457"))  # bad check digit: never sent
    rows.append(new_row(2, imo="9074729", ship_name="MV Unknown"))  # valid IMO, no such ship
    rows.append(new_row(3))
    conflict = new_row(4, email="tomas.berg@nordic-aurora.example", employee_id="EMP-1001")
    rows.append(conflict)
    result = plan(client, rows, "disable")
    report = apply_plan(client, result)
    [unknown_ship] = report.failed
    assert unknown_ship.status == 400 and unknown_ship.correlation_id
    assert "does not match a ship" in unknown_ship.reason
    bad_imo, clash = sorted(report.invalid, key=lambda a: a.line or 0)
    assert bad_imo.problem is not None and bad_imo.problem.field == "shipImo"
    assert clash.problem is not None and clash.problem.field == "userName"
    assert sorted(a.action for a in report.applied) == ["create", "departure"]
    assert client.find_user(external_id="EMP-7003") is not None
    # Ingrid and Tomas are claimed by the conflicting row and are not departed.
    assert client.get_user(INGRID_ID).active and client.get_user(TOMAS_ID).active


def test_invalid_row_is_not_a_departure(client: ScimClient) -> None:
    """A row with a broken field still tells the sync the person is employed."""
    rows = seed_rows(client)
    _by_email(rows, INGRID)["imo"] = "1111111"
    result = plan(client, rows, "delete")
    assert [a.action for a in result.actions if a.user_id == INGRID_ID] == []
    assert [a.action for a in result.actions if a.line is not None] == ["invalid"]


def test_progress_callback(client: ScimClient) -> None:
    """The progress callback sees every action once, in order."""
    seen: list[tuple[int, int]] = []
    _, report = sync_roster(
        client,
        roster_of([*seed_rows(client), new_row(1), new_row(2)]),
        options=SyncOptions(departure_policy="keep"),
        apply=True,
        progress=lambda done, total, _action: seen.append((done, total)),
    )
    assert seen == [(1, 2), (2, 2)] and report is not None and report.ok


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("error", {"status": 503, "times": 3}),
        ("error", {"status": 500, "times": 1}),
        ("rate_limit", {"retry_after": 1, "times": 2}),
        ("malformed", {"times": 2}),
    ],
    ids=["503x3", "500", "429", "malformed"],
)
def test_faults_lose_and_duplicate_nothing(
    sandbox: SandboxHandle, client: ScimClient, kind: str, options: dict[str, int]
) -> None:
    """With faults injected during apply, every change lands once and a rerun is empty."""
    rows = seed_rows(client)
    _by_email(rows, INGRID).update(
        imo=POLAR, ship_name="MT Polar Voyager", contract_start=in_days(4)
    )
    rows += [new_row(n) for n in range(1, 4)]
    rows = [r for r in rows if r["employee_id"] != "EMP-1003"]
    planned = plan(client, rows, "disable")
    sandbox.set_fault("scim_users", kind, **options)
    report = apply_plan(client, planned)
    assert report.ok, [f.reason for f in report.failed]
    assert plan(client, rows, "disable").is_empty
    for n in range(1, 4):
        assert len(list(client.list_users(filter=Filter.eq("externalId", f"EMP-7{n:03d}")))) == 1
    assert len(list(client.list_users())) == SEED_USERS + 3


def test_timeouts_lose_and_duplicate_nothing() -> None:
    """Requests that time out during apply are retried or looked up; a rerun is empty.

    A private sandbox: delayed requests finish after the client gave up.
    """
    from datetime import timedelta

    from rpkit.config import HttpConfig
    from rpkit.scim import ScimConfig
    from rpkit.testing import SCIM_CLIENT_ID, SCIM_CLIENT_SECRET, sandbox_server

    from .helpers import Sleeps

    with sandbox_server() as sandbox:
        client = ScimClient(
            ScimConfig(
                base_url=sandbox.urls["scim_base"],
                token_url=sandbox.urls["token"],
                client_id=SCIM_CLIENT_ID,
                client_secret=SCIM_CLIENT_SECRET,
                http=HttpConfig(timeout=timedelta(seconds=0.3)),
                backoff=timedelta(seconds=0.01),
            ),
            sleep=Sleeps(),
        )
        rows = seed_rows(client)
        _by_email(rows, INGRID)["rank"] = "Chief Officer"
        rows += [new_row(1), new_row(2)]
        planned = plan(client, rows)
        sandbox.set_fault("scim_users", "latency", delay=0.6, times=3)
        report = apply_plan(client, planned)
        assert report.ok, [f.reason for f in report.failed]
        assert client.get_user(INGRID_ID).crew.rank == "Chief Officer"
        assert plan(client, rows).is_empty
        assert len(list(client.list_users())) == SEED_USERS + 2


def test_roster_columns_and_formats(tmp_path: Path) -> None:
    """Headers are configurable and case-insensitive; ';' and a BOM are handled."""
    text = (
        "\ufeffGiven;FAMILY;E-mail;Staff No;Vessel;IMO;Sign on;Sign off\n"
        "Kari;Hansen;kari@x.example;E1;MV A;IMO 9312456;12.03.2026;12.09.2026\n"
        ";;;;;;;\n"
    )
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    columns = RosterColumns.from_spec(
        "first_name=given, surname=Family, email=E-mail, employee_id=Staff No, "
        "ship_name=Vessel, imo=IMO, contract_start=Sign on, contract_end=Sign off"
    )
    roster = read_roster(path, columns=columns, date_format="%d.%m.%Y")
    (row,) = roster.rows
    assert row.problem is None and row.ship_imo == "9312456" and row.employee_id == "E1"
    assert row.contract_start is not None and row.contract_start.isoformat() == "2026-03-12"
    with pytest.raises(ValidationError) as caught:
        read_roster(path)
    assert caught.value.field == "columns"
    with pytest.raises(ValidationError):
        RosterColumns.from_spec("colour=Red")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-email"}, "userName"),
        ({"first_name": ""}, "name.givenName"),
        ({"surname": ""}, "name.familyName"),
        ({"imo": "9312457"}, "shipImo"),
        ({"contract_start": ""}, "contractStartDate"),
        ({"contract_start": "12/03/2026"}, "contractStartDate"),
        ({"contract_end": "2020-01-01"}, "contractEndDate"),
        ({"personal_email": "home"}, "emails"),
    ],
    ids=["email", "first_name", "surname", "imo", "no_start", "start_format", "end_before", "home"],
)
def test_roster_row_problems(changes: Row, field: str) -> None:
    """A broken row is kept with its problem, naming the SCIM field."""
    (row,) = roster_of([new_row(1, **changes)]).rows
    assert row.problem is not None and row.problem.field == field


def test_empty_roster_does_not_depart_everyone(client: ScimClient) -> None:
    """A header-only export is refused unless allow_empty_roster is set."""
    empty = roster_of([])
    with pytest.raises(ValidationError) as caught:
        plan_sync(empty, client.list_users(), today=client.today())
    assert caught.value.field == "roster"
    options = SyncOptions(departure_policy="disable", allow_empty_roster=True)
    result = plan_sync(empty, client.list_users(), today=client.today(), options=options)
    assert result.count("departure") == SEED_USERS - 1  # Lena is already inactive


def test_preferred_display_name_is_kept(client: ScimClient) -> None:
    """A displayName set by hand survives the sync; a derived one follows a name change."""
    client.update_user(INGRID_ID, lambda u: replace(u, display_name="Captain Ingrid"))
    rows = seed_rows(client)
    assert plan(client, rows).is_empty
    _by_email(rows, INGRID)["surname"] = "Larsen-Berg"
    run(client, rows)
    assert client.get_user(INGRID_ID).display_name == "Captain Ingrid"
    tomas = next(r for r in rows if r["employee_id"] == "EMP-1002")
    tomas["first_name"] = "Thomas"
    run(client, rows)
    assert client.get_user(TOMAS_ID).display_name == "Thomas Berg"


def test_duplicate_rows_are_reported(client: ScimClient) -> None:
    """Two rows for one person (same employee id or same email) create nobody twice."""
    rows = [
        *seed_rows(client),
        new_row(1),
        new_row(2, employee_id="EMP-7001"),
        new_row(3, email="kari1@nordic-aurora.example"),
    ]
    result = plan(client, rows)
    assert [a.action for a in result.actions] == ["create", "invalid", "invalid"]
    assert all(a.problem is not None and "line" in a.problem.message for a in result.actions[1:])
