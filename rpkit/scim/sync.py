"""Crew-roster sync: plan the SCIM changes a CMS export implies, then apply them.

Planning is a pure function of (roster, users in Dualog, today, options); applying goes
through ``ScimClient`` one action at a time, so one failed row stops nothing. The lifecycle
follows Dualog's CMS guide ("User Lifecycle with CMS"):

* new crew: in the roster, not in Dualog -> ``create`` (with the ship assignment);
* crew transfer: the IMO number changed -> ``transfer``;
* crew sign-off: contract end date passed or ship removed -> ``sign_off`` (ship and
  contract dates cleared, the cloud identity stays active);
* crew departure: a Dualog user with an ``externalId`` absent from the roster ->
  ``departure``, handled by the policy ``disable``, ``delete`` or ``keep``;
* anything else that differs -> ``update``.

Users are matched by ``externalId`` (the CMS employee id), then by email (``userName``).
Dates in the past cannot be sent (Dualog refuses a start before today), so crew already on
board keep the start Dualog has, and new assignments that began earlier start today.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date

from ..errors import ProviderResponseError, ProviderUnavailableError, RpkitError, ValidationError
from .client import ScimClient
from .lifecycle import (
    DEPARTURE_POLICIES,
    Action,
    Change,
    DeparturePolicy,
    SyncOptions,
    classify_changes,
    desired_user,
    diff_users,
)
from .models import User
from .roster import Roster, RosterRow

__all__ = [
    "DEPARTURE_POLICIES",
    "Action",
    "Change",
    "DeparturePolicy",
    "PlannedAction",
    "RowFailure",
    "SyncOptions",
    "SyncPlan",
    "SyncReport",
    "apply_plan",
    "desired_user",
    "diff_users",
    "plan_sync",
    "sync_roster",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedAction:
    """One thing the sync will do (or, for ``invalid``, refuses to do and reports)."""

    action: Action
    user_name: str
    external_id: str | None = None
    user_id: str | None = None
    line: int | None = None
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()
    row: RosterRow | None = field(default=None, repr=False, compare=False)
    problem: ValidationError | None = field(default=None, compare=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncPlan:
    """Everything a roster implies, in roster order then departures."""

    actions: tuple[PlannedAction, ...]
    unchanged: int
    today: date
    options: SyncOptions

    @property
    def is_empty(self) -> bool:
        """True when applying would send nothing and report nothing."""
        return not self.actions

    def count(self, action: Action) -> int:
        return sum(1 for a in self.actions if a.action == action)


@dataclass(frozen=True, kw_only=True, slots=True)
class RowFailure:
    """A planned action that did not happen, and why."""

    action: PlannedAction
    reason: str
    field: str | None = None
    status: int | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncReport:
    """What ``apply_plan`` did: actions applied and actions that failed."""

    applied: tuple[PlannedAction, ...]
    failed: tuple[RowFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


Progress = Callable[[int, int, PlannedAction], None]


# -- planning ----------------------------------------------------------------------------


def _invalid(row: RosterRow, problem: ValidationError) -> PlannedAction:
    return PlannedAction(
        action="invalid",
        user_name=row.email,
        external_id=row.employee_id,
        line=row.line,
        row=row,
        problem=problem,
        notes=(problem.message,),
    )


def plan_sync(
    roster: Roster, users: Iterable[User], *, today: date, options: SyncOptions | None = None
) -> SyncPlan:
    """Compare the roster with Dualog's users and return what to do; sends nothing.

    Raises:
        ValidationError: ``field="roster"`` when an empty roster would depart users and
            ``options.allow_empty_roster`` is not set.
    """
    options = options or SyncOptions()
    all_users = list(users)
    by_external = {u.external_id: u for u in all_users if u.external_id}
    by_email = {u.user_name.lower(): u for u in all_users}
    present: set[str] = set()
    claimed: dict[str, int] = {}
    actions: list[PlannedAction] = []
    unchanged = 0
    for row in roster.rows:
        by_id = by_external.get(row.employee_id) if row.employee_id else None
        by_mail = by_email.get(row.email.lower()) if row.email else None
        for match in (by_id, by_mail):
            if match is not None and match.id:
                present.add(match.id)  # even an invalid row means "still employed"
        if row.problem is not None:
            actions.append(_invalid(row, row.problem))
            continue
        if by_id is not None and by_mail is not None and by_id.id != by_mail.id:
            actions.append(
                _invalid(
                    row,
                    ValidationError(
                        "userName",
                        f"employee id {row.employee_id} is user {by_id.id} but {row.email} is "
                        f"user {by_mail.id}; fix the roster or Dualog",
                    ),
                )
            )
            continue
        current = by_id or by_mail
        if (
            current is not None
            and by_id is None
            and row.employee_id
            and current.external_id
            and current.external_id != row.employee_id
        ):
            actions.append(
                _invalid(
                    row,
                    ValidationError(
                        "externalId",
                        f"{row.email} belongs to employee {current.external_id} in Dualog, "
                        f"not {row.employee_id}",
                    ),
                )
            )
            continue
        keys = {f"mail:{row.email.lower()}"}
        if row.employee_id:
            keys.add(f"employee:{row.employee_id}")
        if current is not None and current.id:
            keys.add(f"user:{current.id}")
        earlier = sorted(claimed[k] for k in keys if k in claimed)
        if earlier:
            actions.append(
                _invalid(
                    row,
                    ValidationError(
                        "userName", f"same person as roster line {earlier[0]}; row ignored"
                    ),
                )
            )
            continue
        claimed.update(dict.fromkeys(keys, row.line))
        wanted = desired_user(row, current, today=today, options=options)
        notes = _notes(row, wanted, today)
        if current is None:
            actions.append(
                PlannedAction(
                    action="create",
                    user_name=row.email,
                    external_id=row.employee_id,
                    line=row.line,
                    row=row,
                    notes=notes,
                    changes=_creation_summary(wanted),
                )
            )
            continue
        changes = diff_users(current, wanted)
        if not changes:
            unchanged += 1
            continue
        actions.append(
            PlannedAction(
                action=classify_changes(changes),
                user_name=current.user_name,
                external_id=row.employee_id or current.external_id,
                user_id=current.id,
                line=row.line,
                row=row,
                changes=changes,
                notes=notes,
            )
        )
    departures = _departures(all_users, present, options)
    if departures and not roster.rows and not options.allow_empty_roster:
        raise ValidationError(
            "roster",
            f"the roster has no rows; refusing to {options.departure_policy} "
            f"{len(departures)} users (set allow_empty_roster to do so)",
        )
    actions.extend(departures)
    return SyncPlan(actions=tuple(actions), unchanged=unchanged, today=today, options=options)


def _notes(row: RosterRow, wanted: User, today: date) -> tuple[str, ...]:
    notes = []
    if row.contract_end is not None and row.contract_end < today and row.ship_imo:
        notes.append(f"contract ended {row.contract_end.isoformat()}: signed off")
    if (
        row.contract_start is not None
        and row.contract_start < today
        and wanted.crew.contract_start_date == today.isoformat()
    ):
        notes.append(
            f"start {row.contract_start.isoformat()} is past; Dualog gets {today.isoformat()}"
        )
    if row.ship_name and not row.ship_imo:
        notes.append(f'ship "{row.ship_name}" has no IMO number: no ship assigned')
    return tuple(notes)


def _creation_summary(user: User) -> tuple[Change, ...]:
    crew = user.crew
    values = [
        ("externalId", user.external_id),
        ("rank", crew.rank),
        ("shipImo", crew.ship_imo),
        ("contractStartDate", crew.contract_start_date),
        ("contractEndDate", crew.contract_end_date),
    ]
    return tuple(Change(field=n, old=None, new=v) for n, v in values if v is not None)


def _departures(users: list[User], present: set[str], options: SyncOptions) -> list[PlannedAction]:
    if options.departure_policy == "keep":
        return []
    found = []
    for user in users:
        if user.id is None or user.id in present:
            continue
        if not user.external_id and not options.manage_users_without_external_id:
            continue
        if options.departure_policy == "disable" and not user.active:
            continue
        changes = (
            (Change(field="active", old="true", new="false"),)
            if options.departure_policy == "disable"
            else (Change(field="user", old=user.user_name, new=None),)
        )
        found.append(
            PlannedAction(
                action="departure",
                user_name=user.user_name,
                external_id=user.external_id,
                user_id=user.id,
                changes=changes,
                notes=(f"absent from the roster: {options.departure_policy}",),
            )
        )
    return found


# -- applying ----------------------------------------------------------------------------


def _execute(client: ScimClient, plan: SyncPlan, item: PlannedAction) -> None:
    options, today = plan.options, plan.today
    if item.action == "create":
        assert item.row is not None
        client.create_user(desired_user(item.row, None, today=today, options=options))
    elif item.action in ("update", "transfer", "sign_off"):
        assert item.row is not None and item.user_id is not None
        row = item.row
        client.update_user(
            item.user_id,
            lambda current: desired_user(row, current, today=today, options=options),
        )
    elif item.action == "departure":
        assert item.user_id is not None
        if options.departure_policy == "delete":
            client.delete_user(item.user_id)
        else:
            client.update_user(item.user_id, lambda current: replace(current, active=False))


def apply_plan(
    client: ScimClient, plan: SyncPlan, *, progress: Progress | None = None
) -> SyncReport:
    """Carry out ``plan`` one action at a time; a failure is recorded, never raised.

    ``invalid`` actions are reported as failures without sending anything. Each failure
    carries the reason and, when Dualog sent one, its ``correlationId``.
    """
    applied: list[PlannedAction] = []
    failed: list[RowFailure] = []
    total = len(plan.actions)
    for done, item in enumerate(plan.actions, start=1):
        try:
            if item.action == "invalid":
                assert item.problem is not None
                raise item.problem
            _execute(client, plan, item)
        except ValidationError as err:
            failed.append(RowFailure(action=item, reason=err.message, field=err.field))
        except (ProviderResponseError, ProviderUnavailableError) as err:
            failed.append(
                RowFailure(
                    action=item,
                    reason=err.message,
                    status=err.status,
                    correlation_id=err.correlation_id,
                )
            )
        except RpkitError as err:
            failed.append(RowFailure(action=item, reason=err.message))
        else:
            applied.append(item)
        if progress is not None:
            progress(done, total, item)
    return SyncReport(applied=tuple(applied), failed=tuple(failed))


def sync_roster(
    client: ScimClient,
    roster: Roster,
    *,
    options: SyncOptions | None = None,
    apply: bool = False,
    progress: Progress | None = None,
) -> tuple[SyncPlan, SyncReport | None]:
    """Plan against the users Dualog has now and, with ``apply``, carry the plan out."""
    plan = plan_sync(roster, client.list_users(), today=client.today(), options=options)
    if not apply:
        return plan, None
    return plan, apply_plan(client, plan, progress=progress)
