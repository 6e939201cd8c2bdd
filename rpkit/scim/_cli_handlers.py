"""The handlers behind ``rpkit crew sync`` and ``rpkit scim ...``: one function per command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import IO, Any

from ..env import check_variables
from ..errors import ValidationError
from .client import ScimClient
from .config import ScimConfig
from .filters import Filter
from .models import CrewExtension, Email, Group, GroupRef, User, user_to_scim
from .roster import RosterColumns, read_roster
from .sync import (
    Action,
    PlannedAction,
    Progress,
    RowFailure,
    SyncOptions,
    SyncPlan,
    SyncReport,
    apply_plan,
    check_departures,
    sync_roster,
)

# How a command builds its client from the config (tests pass one with a recording sleep).
ClientFactory = Callable[[ScimConfig], ScimClient]


def config_from(args: argparse.Namespace, environ: Mapping[str, str]) -> ScimConfig:
    """``ScimConfig.from_env`` with the connection flags laid over the environment.

    Any unknown ``RPKIT_*`` variable is refused first, as at an app's start.
    """
    check_variables(environ)
    env = dict(environ)
    for flag, name in (
        ("base_url", "RPKIT_SCIM_BASE_URL"),
        ("token_url", "RPKIT_SCIM_TOKEN_URL"),
        ("client_id", "RPKIT_SCIM_CLIENT_ID"),
        ("scope", "RPKIT_SCIM_SCOPE"),
    ):
        value = getattr(args, flag, None)
        if value:
            env[name] = value
    return ScimConfig.from_env(env)


class Context:
    """What every handler needs: the environment, the client factory and the streams."""

    def __init__(self, environ: Mapping[str, str] | None, factory: ClientFactory) -> None:
        self._environ = environ
        self.factory = factory

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    @property
    def stdout(self) -> IO[str]:
        return sys.stdout  # looked up per call, so redirection (and capsys) applies

    @property
    def stderr(self) -> IO[str]:
        return sys.stderr

    def client(self, args: argparse.Namespace) -> ScimClient:
        return self.factory(config_from(args, self.environ))

    def out(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def json(self, value: Any) -> None:
        print(json.dumps(value, indent=2, ensure_ascii=False), file=self.stdout)


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


# -- crew sync ---------------------------------------------------------------------------


def _describe(action: PlannedAction) -> str:
    parts = [f"{c.field}: {c.old or '-'} -> {c.new or '-'}" for c in action.changes]
    parts.extend(action.notes)
    return "; ".join(parts)


def _plan_table(plan: SyncPlan) -> str:
    rows = [
        [
            a.action.replace("_", "-"),
            str(a.line) if a.line is not None else "",
            a.user_name,
            a.external_id or "",
            _describe(a),
        ]
        for a in plan.actions
    ]
    return _table(rows, ["ACTION", "LINE", "USER", "EMPLOYEE ID", "DETAILS"])


_ACTIONS: tuple[Action, ...] = ("create", "update", "transfer", "sign_off", "departure", "invalid")


def _summary(plan: SyncPlan) -> str:
    counts = [f"{plan.count(n)} {n.replace('_', '-')}" for n in _ACTIONS if plan.count(n)]
    return f"plan: {', '.join(counts) or 'nothing to do'} ({plan.unchanged} unchanged)"


def _departure_line(plan: SyncPlan) -> str | None:
    planned = plan.count("departure")
    if not planned:
        return None
    basis = (
        "--max-departures"
        if plan.options.max_departures is not None
        else f"10 % of {plan.managed} managed users, at least 5"
    )
    verdict = (
        "within the limit"
        if plan.departures_allowed
        else "over the limit: --apply will refuse; if the roster is complete, "
        f"pass --max-departures {planned}"
    )
    return f"departures: {planned} of at most {plan.departure_limit} ({basis}): {verdict}"


def progress_printer(stream: IO[str]) -> Progress:
    """A redrawn bar on a terminal; in a log, one line per 10 % (no ``\\r`` frames)."""
    interactive = stream.isatty()
    shown = 0

    def show(done: int, total: int, action: PlannedAction) -> None:
        nonlocal shown
        if interactive:
            width = 30
            filled = width * done // total if total else width
            bar = "#" * filled + "-" * (width - filled)
            label = f"{action.action.replace('_', '-')} {action.user_name}"[:50]
            stream.write(f"\r[{bar}] {done}/{total} {label:<50}")
            if done == total:
                stream.write("\n")
        else:
            tenth = 10 * done // total if total else 10
            if tenth <= shown:
                return
            shown = tenth
            stream.write(f"progress: {done}/{total} ({10 * tenth} %)\n")
        stream.flush()

    return show


def _action_json(action: PlannedAction) -> dict[str, Any]:
    return {
        "action": action.action,
        "line": action.line,
        "userName": action.user_name,
        "externalId": action.external_id,
        "userId": action.user_id,
        "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in action.changes],
        "notes": list(action.notes),
    }


def _failure_json(failure: RowFailure) -> dict[str, Any]:
    return {
        "action": failure.action.action,
        "line": failure.action.line,
        "userName": failure.action.user_name,
        "reason": failure.reason,
        "field": failure.field,
        "status": failure.status,
        "correlationId": failure.correlation_id,
    }


def sync_json(
    plan: SyncPlan, report: SyncReport | None, *, applying: bool, error: str | None
) -> dict[str, Any]:
    """The ``--json`` document (shape: docs/crew-sync.schema.json)."""
    summary: dict[str, int] = {n: plan.count(n) for n in _ACTIONS}
    summary["unchanged"] = plan.unchanged
    result = None
    if report is not None:
        result = {
            "applied": len(report.applied),
            "failed": len(report.failed),
            "invalid": len(report.invalid),
            "failures": [_failure_json(f) for f in report.failed],
        }
    return {
        "version": 1,
        "mode": "apply" if applying else "dry_run",
        "summary": summary,
        "departures": {
            "planned": plan.count("departure"),
            "limit": plan.departure_limit,
            "managed": plan.managed,
            "allowed": plan.departures_allowed,
        },
        "actions": [_action_json(a) for a in plan.actions],
        "result": result,
        "error": error,
    }


def _failure_table(report: SyncReport) -> str:
    rows = [
        [
            str(f.action.line) if f.action.line is not None else "",
            f.action.user_name,
            f.action.action.replace("_", "-"),
            f.reason,
            f.correlation_id or "",
        ]
        for f in report.failed
    ]
    return _table(rows, ["LINE", "USER", "ACTION", "REASON", "CORRELATION ID"])


def sync_options(args: argparse.Namespace) -> SyncOptions:
    """The ``SyncOptions`` the ``crew sync`` flags ask for."""
    return SyncOptions(
        departure_policy=args.departure_policy,
        manage_users_without_external_id=args.manage_users_without_external_id,
        default_groups=tuple(args.default_group or ()),
        allow_empty_roster=args.allow_empty_roster,
        max_departures=args.max_departures,
        allow_email_change=args.allow_email_change,
        normalize_ranks=args.normalize_ranks,
    )


def _refusal(plan: SyncPlan, args: argparse.Namespace) -> str | None:
    """Why ``--apply`` must send nothing for ``plan``, or None."""
    invalid = plan.count("invalid")
    if args.strict and invalid:
        return f"refusing to apply: {invalid} invalid rows (--strict)"
    try:
        check_departures(plan)
    except ValidationError as err:
        return err.message
    return None


def _print_sync(ctx: Context, plan: SyncPlan, report: SyncReport | None, *, apply: bool) -> None:
    if plan.actions:
        ctx.out(_plan_table(plan))
        ctx.out()
    ctx.out(_summary(plan))
    departures = _departure_line(plan)
    if departures:
        ctx.out(departures)
    if not apply and plan.actions:
        ctx.out("dry run: nothing was sent; add --apply to apply the plan")
    if report is not None:
        ctx.out(
            f"applied {len(report.applied)}, failed {len(report.failed)}, "
            f"invalid {len(report.invalid)} (not sent)"
        )
        if report.failed:
            ctx.out(_failure_table(report))


def crew_sync(ctx: Context, args: argparse.Namespace) -> int:
    columns = RosterColumns.from_spec(args.columns) if args.columns else RosterColumns()
    roster = read_roster(
        args.roster,
        columns=columns,
        date_format=args.date_format,
        delimiter=args.delimiter,
        encoding=args.encoding,
    )
    client = ctx.client(args)
    # Plan first (a dry run of sync_roster), so a refused apply still shows its plan.
    plan, _ = sync_roster(client, roster, options=sync_options(args))
    error = _refusal(plan, args) if args.apply else None
    report: SyncReport | None = None
    if args.apply and error is None:
        report = apply_plan(
            client, plan, progress=progress_printer(ctx.stderr), workers=args.workers
        )
    if args.json:
        ctx.json(sync_json(plan, report, applying=args.apply, error=error))
    else:
        _print_sync(ctx, plan, report, apply=args.apply)
    if error is not None:
        print(f"rpkit: {error}", file=ctx.stderr)
        return 1
    if report is not None and report.failed:
        return 1
    return 1 if args.strict and plan.count("invalid") else 0


# -- scim users --------------------------------------------------------------------------


def _user_json(user: User) -> dict[str, Any]:
    body = {"id": user.id, **user_to_scim(user)}
    if user.meta is not None:
        body["meta"] = {
            "resourceType": user.meta.resource_type,
            "created": user.meta.created,
            "lastModified": user.meta.last_modified,
            "location": user.meta.location,
        }
    return body


def _filter(text: str | None) -> Filter | None:
    if not text:
        return None
    attribute, sep, value = text.partition("=")
    if not sep:
        raise ValidationError("filter", f"--filter takes ATTRIBUTE=VALUE, got {text!r}")
    return Filter.eq(attribute.strip(), value)


def users_list(ctx: Context, args: argparse.Namespace) -> int:
    users = ctx.client(args).list_users(filter=_filter(args.filter))
    if args.json:
        ctx.json([_user_json(u) for u in users])
        return 0
    rows = [
        [
            u.id or "",
            u.user_name,
            u.external_id or "",
            f"{u.given_name} {u.family_name}".strip(),
            u.crew.rank or "",
            u.crew.ship_name or u.crew.ship_imo or "",
            "yes" if u.active else "no",
        ]
        for u in users
    ]
    ctx.out(_table(rows, ["ID", "USERNAME", "EXTERNAL ID", "NAME", "RANK", "SHIP", "ACTIVE"]))
    return 0


def users_get(ctx: Context, args: argparse.Namespace) -> int:
    ctx.json(_user_json(ctx.client(args).get_user(args.id)))
    return 0


def _apply_user_flags(user: User, args: argparse.Namespace) -> User:
    crew_changes: dict[str, Any] = {}
    for flag, name in (
        ("rank", "rank"),
        ("department", "department"),
        ("ship_imo", "ship_imo"),
        ("contract_start", "contract_start_date"),
        ("contract_end", "contract_end_date"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            crew_changes[name] = value or None
    changes: dict[str, Any] = {}
    for flag in ("given_name", "family_name", "external_id", "display_name"):
        value = getattr(args, flag, None)
        if value is not None:
            changes[flag] = value
    if getattr(args, "active", None) is not None:
        changes["active"] = args.active
    if getattr(args, "personal_email", None):
        others = tuple(e for e in user.emails if e.type != "home")
        changes["emails"] = (*others, Email(value=args.personal_email, type="home", primary=False))
    if crew_changes.get("ship_imo") is None and "ship_imo" in crew_changes:
        crew_changes["ship_name"] = None
    return replace(user, crew=replace(user.crew, **crew_changes), **changes)


def users_create(ctx: Context, args: argparse.Namespace) -> int:
    user = User(
        user_name=args.user_name,
        given_name=args.given_name,
        family_name=args.family_name,
        emails=(Email(value=args.user_name, type="work", primary=True),),
        groups=tuple(GroupRef(value=g) for g in args.group or ()),
        crew=CrewExtension(force_change_password=not args.no_force_change_password),
    )
    user = _apply_user_flags(user, args)
    ctx.json(_user_json(ctx.client(args).create_user(user)))
    return 0


def users_update(ctx: Context, args: argparse.Namespace) -> int:
    updated = ctx.client(args).update_user(args.id, lambda u: _apply_user_flags(u, args))
    ctx.json(_user_json(updated))
    return 0


def _deleted(ctx: Context, kind: str, resource_id: str, delete: Callable[[str], object]) -> int:
    """Delete one resource by id with ``delete`` and say so."""
    delete(resource_id)
    ctx.out(f"deleted {kind} {resource_id}")
    return 0


def users_delete(ctx: Context, args: argparse.Namespace) -> int:
    return _deleted(ctx, "user", args.id, ctx.client(args).delete_user)


# -- scim groups -------------------------------------------------------------------------


def _group_json(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "displayName": group.display_name,
        "members": [{"value": m.value, "display": m.display} for m in group.members],
    }


def groups_list(ctx: Context, args: argparse.Namespace) -> int:
    groups = list(ctx.client(args).list_groups())
    if args.json:
        ctx.json([_group_json(g) for g in groups])
        return 0
    rows = [[g.id or "", g.display_name, str(len(g.members))] for g in groups]
    ctx.out(_table(rows, ["ID", "NAME", "MEMBERS"]))
    return 0


def groups_get(ctx: Context, args: argparse.Namespace) -> int:
    ctx.json(_group_json(ctx.client(args).get_group(args.id)))
    return 0


def groups_create(ctx: Context, args: argparse.Namespace) -> int:
    group = ctx.client(args).create_group(args.name, members=tuple(args.member or ()))
    ctx.json(_group_json(group))
    return 0


def groups_rename(ctx: Context, args: argparse.Namespace) -> int:
    group = ctx.client(args).update_group(args.id, lambda g: replace(g, display_name=args.name))
    ctx.json(_group_json(group))
    return 0


def groups_delete(ctx: Context, args: argparse.Namespace) -> int:
    return _deleted(ctx, "group", args.id, ctx.client(args).delete_group)


def groups_add_member(ctx: Context, args: argparse.Namespace) -> int:
    ctx.client(args).add_to_group(args.user_id, args.group_id)
    ctx.out(f"added user {args.user_id} to group {args.group_id}")
    return 0


def groups_remove_member(ctx: Context, args: argparse.Namespace) -> int:
    ctx.client(args).remove_from_group(args.user_id, args.group_id)
    ctx.out(f"removed user {args.user_id} from group {args.group_id}")
    return 0
