"""Crew-roster sync: plan the SCIM changes a CMS export implies, then apply them.

Planning is a pure function of (roster, users in Dualog, today, options); applying goes
through ``ScimClient`` with a bounded pool of workers (one action per user, so actions on
one user never race), and one failed row stops nothing. The lifecycle follows Dualog's CMS
guide ("User Lifecycle with CMS"):

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

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
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
    "check_departures",
    "desired_user",
    "diff_users",
    "plan_sync",
    "sync_roster",
]

# Parallel requests an apply sends by default: enough to hide a remote API's latency,
# few enough not to look like an attack (and within requests' pool of 10 connections).
DEFAULT_WORKERS = 8
MAX_WORKERS = 32


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
    """Everything a roster implies, in roster order then departures.

    ``managed``: the Dualog users the sync manages (those a departure could touch);
    ``departure_limit``: the most departures an apply will carry out.
    """

    actions: tuple[PlannedAction, ...]
    unchanged: int
    today: date
    options: SyncOptions
    managed: int = 0
    departure_limit: int = 5

    @property
    def is_empty(self) -> bool:
        """True when applying would send nothing and report nothing."""
        return not self.actions

    def count(self, action: Action) -> int:
        return sum(1 for a in self.actions if a.action == action)

    @property
    def departures_allowed(self) -> bool:
        """False when applying would be refused: more departures than the limit."""
        return self.count("departure") <= self.departure_limit


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
    """What ``apply_plan`` did: actions applied, actions that failed, and ``invalid``
    rows, which were never sent (so they neither applied nor failed)."""

    applied: tuple[PlannedAction, ...]
    failed: tuple[RowFailure, ...]
    invalid: tuple[PlannedAction, ...] = ()

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
        if (
            current is not None
            and current.user_name.lower() != row.email.lower()
            and not options.allow_email_change
        ):
            # Matched by employee id with another email: the email is the login, so a
            # change locks the person out of (or hands the account to) another address.
            actions.append(
                _invalid(
                    row,
                    ValidationError(
                        "userName",
                        f"email would change from {current.user_name} to {row.email}; the "
                        "email is the login: allow it with --allow-email-change "
                        "(allow_email_change)",
                    ),
                )
            )
            continue
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
    managed = sum(1 for u in all_users if _managed(u, options))
    return SyncPlan(
        actions=tuple(actions),
        unchanged=unchanged,
        today=today,
        options=options,
        managed=managed,
        departure_limit=options.departure_limit(managed),
    )


def _managed(user: User, options: SyncOptions) -> bool:
    """Whether the sync may depart ``user`` (CMS-managed: it has an ``externalId``)."""
    return user.id is not None and bool(
        user.external_id or options.manage_users_without_external_id
    )


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
        if user.id is None or user.id in present or not _managed(user, options):
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


def check_departures(plan: SyncPlan) -> None:
    """Refuse a plan with more departures than ``plan.departure_limit``.

    Raises:
        ValidationError: ``field="max_departures"``; the message names the flag.
    """
    planned = plan.count("departure")
    if planned <= plan.departure_limit:
        return
    options = plan.options
    why = (
        "the limit set"
        if options.max_departures is not None
        else f"the default limit: 10 % of {plan.managed} CMS-managed users, at least 5"
    )
    raise ValidationError(
        "max_departures",
        f"refusing to apply: {planned} departures ({options.departure_policy}) exceed "
        f"{plan.departure_limit}, {why}. A partial CMS export looks like this; if the "
        f"roster is complete, allow them with --max-departures {planned} (max_departures)",
    )


def _chains(actions: tuple[PlannedAction, ...]) -> list[list[int]]:
    """Indexes of the actions to send, grouped by user, each group in plan order: one
    worker runs a group, so actions on one user never overlap or reorder."""
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(actions):
        if item.action == "invalid":
            continue
        key = f"user:{item.user_id}" if item.user_id else f"mail:{item.user_name.lower()}"
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def _attempt(client: ScimClient, plan: SyncPlan, item: PlannedAction) -> RowFailure | None:
    try:
        _execute(client, plan, item)
    except ValidationError as err:
        return RowFailure(action=item, reason=err.message, field=err.field)
    except (ProviderResponseError, ProviderUnavailableError) as err:
        return RowFailure(
            action=item, reason=err.message, status=err.status, correlation_id=err.correlation_id
        )
    except RpkitError as err:
        return RowFailure(action=item, reason=err.message)
    return None


def apply_plan(
    client: ScimClient,
    plan: SyncPlan,
    *,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
) -> SyncReport:
    """Carry out ``plan`` with up to ``workers`` requests in flight; a failed row is
    recorded, never raised.

    ``invalid`` actions are reported as invalid without sending anything. Each failure
    carries the reason and, when Dualog sent one, its ``correlationId``. ``progress`` is
    called once per action (invalid ones included), from one thread at a time, with an
    exact running count. The client's retries and its shared backoff (a 429 slows every
    worker) apply as they would to one caller.

    Raises:
        ValidationError: ``field="max_departures"`` when the plan departs more users than
            its limit (nothing is sent); ``field="workers"`` for a count out of range.
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise ValidationError("workers", f"workers must be 1-{MAX_WORKERS}, got {workers}")
    check_departures(plan)
    items = plan.actions
    outcomes: list[RowFailure | None] = [None] * len(items)
    lock = threading.Lock()
    done = 0

    def finished(index: int, outcome: RowFailure | None) -> None:
        nonlocal done
        with lock:
            outcomes[index] = outcome
            done += 1
            if progress is not None:
                progress(done, len(items), items[index])

    def run(chain: list[int]) -> None:
        for index in chain:
            finished(index, _attempt(client, plan, items[index]))

    for index, item in enumerate(items):
        if item.action == "invalid":
            finished(index, None)  # counted, never sent
    chains = _chains(items)
    if chains:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rpkit-sync") as pool:
            for future in [pool.submit(run, chain) for chain in chains]:
                future.result()
    failed = tuple(o for o in outcomes if o is not None)
    return SyncReport(
        applied=tuple(
            a for a, o in zip(items, outcomes, strict=True) if o is None and a.action != "invalid"
        ),
        failed=failed,
        invalid=tuple(a for a in items if a.action == "invalid"),
    )


def sync_roster(
    client: ScimClient,
    roster: Roster,
    *,
    options: SyncOptions | None = None,
    apply: bool = False,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
) -> tuple[SyncPlan, SyncReport | None]:
    """Plan against the users Dualog has now and, with ``apply``, carry the plan out."""
    plan = plan_sync(roster, client.list_users(), today=client.today(), options=options)
    if not apply:
        return plan, None
    return plan, apply_plan(client, plan, progress=progress, workers=workers)
