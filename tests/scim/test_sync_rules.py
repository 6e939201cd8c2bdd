"""Crew sync safety rules: the departure guard, exact userName/email, rank aliases."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rpkit.errors import ValidationError
from rpkit.scim import ScimClient, User
from rpkit.scim.sync import SyncOptions, SyncPlan, apply_plan, plan_sync

from .helpers import INGRID, INGRID_ID
from .test_sync import MARIA_ID, Row, _by_email, new_row, roster_of, seed_rows

JONAS_ID = "87237"  # rank "AB" in Dualog


def _plan(client: ScimClient, rows: list[Row], **options: object) -> SyncPlan:
    settings = {"departure_policy": "keep", **options}
    return plan_sync(
        roster_of(rows),
        client.list_users(),
        today=client.today(),
        options=SyncOptions(**settings),  # type: ignore[arg-type]
    )


# -- departure guard ---------------------------------------------------------------------


def _fleet_of_27(client: ScimClient) -> list[Row]:
    """20 new crew plus the 7 current seed crew: 27 CMS-managed users (limit 5)."""
    rows = [*seed_rows(client), *(new_row(n) for n in range(1, 21))]
    assert apply_plan(client, _plan(client, rows)).ok
    return rows


def test_guard_refuses_more_departures_than_the_default_limit(client: ScimClient) -> None:
    """7 departures of 28 managed users exceed max(5, 10 %): refused, nothing is sent."""
    rows = _fleet_of_27(client)
    partial = rows[:-6]  # an export cut short: 6 new crew missing, plus Piotr already gone
    result = _plan(client, partial, departure_policy="disable")
    assert result.count("departure") == 7
    assert (result.managed, result.departure_limit, result.departures_allowed) == (28, 5, False)
    with pytest.raises(ValidationError) as caught:
        apply_plan(client, result)
    assert caught.value.field == "max_departures"
    assert "--max-departures 7" in caught.value.message
    assert all(u.active for u in client.list_users() if u.external_id != "EMP-1008")


def test_guard_passes_with_a_higher_limit(client: ScimClient) -> None:
    """max_departures=7 lets the same 7 departures through."""
    rows = _fleet_of_27(client)
    result = _plan(client, rows[:-6], departure_policy="disable", max_departures=7)
    report = apply_plan(client, result)
    assert report.ok and sum(a.action == "departure" for a in report.applied) == 7
    assert _plan(client, rows[:-6], departure_policy="disable", max_departures=7).is_empty


def test_guard_allows_up_to_five_in_a_small_fleet(client: ScimClient) -> None:
    """With few managed users the limit is 5, not 10 % of them."""
    rows = seed_rows(client)[:2]
    result = _plan(client, rows, departure_policy="disable")
    assert (result.count("departure"), result.departure_limit) == (5, 5)  # Piotr too
    assert apply_plan(client, result).ok


# -- exact userName and email ------------------------------------------------------------


def test_case_only_differences_plan_nothing(client: ScimClient) -> None:
    """The roster's spelling of an email Dualog holds in another case is no change."""
    rows = seed_rows(client)
    for row in rows:
        row["email"] = row["email"].upper()
    assert _plan(client, rows).is_empty


def test_an_update_keeps_dualogs_spelling_of_the_email(client: ScimClient) -> None:
    """A rank change from a roster with mixed-case emails leaves userName and emails as
    Dualog has them, and the plan shows only the rank."""
    rows = seed_rows(client)
    _by_email(rows, INGRID)["email"] = "Ingrid.Larsen@Nordic-Aurora.EXAMPLE"
    _by_email(rows, "Ingrid.Larsen@Nordic-Aurora.EXAMPLE")["rank"] = "Chief Officer"
    result = _plan(client, rows)
    [action] = result.actions
    assert [c.field for c in action.changes] == ["rank"]
    assert apply_plan(client, result).ok
    after = client.get_user(INGRID_ID)
    assert after.user_name == INGRID and [e.value for e in after.emails if e.type == "work"] == [
        INGRID
    ]


def test_dualogs_mixed_case_user_name_is_kept(client: ScimClient) -> None:
    """A user Dualog holds as Mixed.Case@ is not lower-cased by a roster saying mixed.case@."""
    mixed = "Mixed.Case@nordic-aurora.example"
    rows = seed_rows(client)
    client.create_user(
        User(
            user_name=mixed,
            external_id="EMP-7300",
            given_name="Mixed",
            family_name="Case",
            emails=(),
        )
    )
    row = new_row(300, email=mixed.lower(), first_name="Mixed", surname="Case", imo="")
    row.update(contract_start="", contract_end="", personal_email="", phone="", rank="")
    rows.append(row)
    result = _plan(client, rows)
    assert [c.field for a in result.actions for c in a.changes] == ["department", "emails"]
    assert apply_plan(client, result).ok
    stored = client.find_user(external_id="EMP-7300")
    assert stored is not None and stored.user_name == mixed
    assert _plan(client, rows).is_empty


def test_new_users_get_a_lower_case_user_name(client: ScimClient) -> None:
    """A new crew member written Kari.Nord@Nordic-Aurora.Example is created in lower case."""
    rows = [*seed_rows(client), new_row(1, email="Kari.Nord@Nordic-Aurora.Example")]
    result = _plan(client, rows)
    assert [a.action for a in result.actions] == ["create"]
    assert apply_plan(client, result).ok
    created = client.find_user(external_id="EMP-7001")
    assert created is not None and created.user_name == "kari.nord@nordic-aurora.example"
    assert [e.value for e in created.emails if e.type == "work"] == [created.user_name]
    assert _plan(client, rows).is_empty


def test_email_change_needs_allow_email_change(client: ScimClient) -> None:
    """A new email for an employee id is refused (invalid, naming the flag); with
    allow_email_change it is planned as its own change and applied."""
    rows = seed_rows(client)
    _by_email(rows, INGRID)["email"] = "ingrid.larsen@dualog-fleet.example"
    refused = _plan(client, rows)
    [invalid] = refused.actions
    assert invalid.action == "invalid" and invalid.problem is not None
    assert invalid.problem.field == "userName"
    assert "--allow-email-change" in invalid.problem.message
    assert client.get_user(INGRID_ID).user_name == INGRID  # and nothing departs her

    allowed = _plan(client, rows, allow_email_change=True)
    [change] = allowed.actions
    assert change.action == "update" and change.user_id == INGRID_ID
    assert {c.field: (c.old, c.new) for c in change.changes}["userName"] == (
        INGRID,
        "ingrid.larsen@dualog-fleet.example",
    )
    assert apply_plan(client, allowed).ok
    assert client.get_user(INGRID_ID).user_name == "ingrid.larsen@dualog-fleet.example"
    assert _plan(client, rows, allow_email_change=True).is_empty


# -- ranks -------------------------------------------------------------------------------


def test_rank_alias_is_not_an_update(client: ScimClient) -> None:
    """Dualog's Second Officer against the CMS's 2/O (and AB against Able Seaman) is the
    same rank: no update without normalize_ranks."""
    rows = seed_rows(client)
    next(r for r in rows if r["employee_id"] == "EMP-1003")["rank"] = "2/O"
    next(r for r in rows if r["employee_id"] == "EMP-1004")["rank"] = "Able Seaman"
    assert _plan(client, rows).is_empty


def test_a_different_rank_is_an_update(client: ScimClient) -> None:
    """3/O against Second Officer is a real change, sent as the roster spells it."""
    rows = seed_rows(client)
    next(r for r in rows if r["employee_id"] == "EMP-1003")["rank"] = "3/O"
    [action] = _plan(client, rows).actions
    assert [(c.field, c.old, c.new) for c in action.changes] == [("rank", "Second Officer", "3/O")]


def test_normalize_ranks_sends_canonical_names(client: ScimClient) -> None:
    """With normalize_ranks, 2/O stays Second Officer, Dualog's AB becomes Able Seaman,
    a new C/O is created as Chief Officer, and an unknown rank keeps its spelling."""
    client.update_user(MARIA_ID, lambda u: replace(u, crew=replace(u.crew, rank="Second Officer")))
    rows = seed_rows(client)
    next(r for r in rows if r["employee_id"] == "EMP-1003")["rank"] = "2/O"
    rows.append(new_row(1, rank="c/o"))
    rows.append(new_row(2, rank="Reefer Technician"))
    result = _plan(client, rows, normalize_ranks=True)
    by_key = {a.user_id or a.user_name: a for a in result.actions}
    assert set(by_key) == {JONAS_ID, "kari1@nordic-aurora.example", "kari2@nordic-aurora.example"}
    assert [(c.old, c.new) for c in by_key[JONAS_ID].changes] == [("AB", "Able Seaman")]
    assert apply_plan(client, result).ok
    assert client.get_user(JONAS_ID).crew.rank == "Able Seaman"
    assert client.get_user(MARIA_ID).crew.rank == "Second Officer"
    kari1 = client.find_user(external_id="EMP-7001")
    kari2 = client.find_user(external_id="EMP-7002")
    assert kari1 is not None and kari1.crew.rank == "Chief Officer"
    assert kari2 is not None and kari2.crew.rank == "Reefer Technician"
    assert _plan(client, rows, normalize_ranks=True).is_empty
