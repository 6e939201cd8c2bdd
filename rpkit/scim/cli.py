"""``rpkit crew sync`` and ``rpkit scim users|groups``: the User API from a shell.

Connection settings come from ``RPKIT_SCIM_BASE_URL``, ``RPKIT_SCIM_TOKEN_URL``,
``RPKIT_SCIM_CLIENT_ID``, ``RPKIT_SCIM_CLIENT_SECRET`` and ``RPKIT_SCIM_SCOPE`` (and
``RPKIT_HTTP_*``); the flags ``--base-url``, ``--token-url``, ``--client-id`` and
``--scope`` override them. The secret is read from the environment only, never a flag, so
it stays out of shell history and process lists.

The ``rpkit`` command wires these in with :func:`add_subcommands`; :func:`main` runs them
on their own (tests call it directly).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError, RpkitError, ValidationError
from . import _cli_handlers as h
from ._cli_handlers import ClientFactory
from .client import ScimClient
from .filters import FILTER_ATTRIBUTES
from .roster import DATE_FORMATS
from .sync import DEFAULT_WORKERS, DEPARTURE_POLICIES, MAX_WORKERS

__all__ = ["add_subcommands", "main"]

Subparsers = Any  # argparse._SubParsersAction is private
Handler = Callable[[argparse.Namespace], int]


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (defaults from RPKIT_SCIM_* variables)")
    group.add_argument("--base-url", help="User API base, ending /api/scim/v2")
    group.add_argument("--token-url", help="token endpoint for client credentials")
    group.add_argument("--client-id", help="API client id (secret: RPKIT_SCIM_CLIENT_SECRET)")
    group.add_argument("--scope", choices=("crew_import", "crew_read"), help="token scope")


# -- parsers -----------------------------------------------------------------------------


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _workers(text: str) -> int:
    value = _non_negative(text)
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected 1-{MAX_WORKERS}, got {text!r}")
    return value


def _user_fields(parser: argparse.ArgumentParser, *, create: bool) -> None:
    if create:
        parser.add_argument("--user-name", required=True, help="login email (userName)")
        parser.add_argument("--given-name", required=True)
        parser.add_argument("--family-name", required=True)
        parser.add_argument("--group", action="append", help="group id (repeatable)")
        parser.add_argument(
            "--no-force-change-password",
            action="store_true",
            help="do not require a password change at first login",
        )
    else:
        parser.add_argument("id", help="user id")
        parser.add_argument("--given-name")
        parser.add_argument("--family-name")
        active = parser.add_mutually_exclusive_group()
        active.add_argument("--active", dest="active", action="store_true", default=None)
        active.add_argument("--inactive", dest="active", action="store_false")
    parser.add_argument("--external-id", help="the CMS employee id")
    parser.add_argument("--display-name")
    parser.add_argument("--rank")
    parser.add_argument("--department")
    parser.add_argument("--ship-imo", help="IMO number; empty string removes the ship")
    parser.add_argument("--contract-start", help="yyyy-MM-dd, not in the past")
    parser.add_argument("--contract-end", help="yyyy-MM-dd")
    parser.add_argument("--personal-email", help="home email for password resets")


def add_subcommands(subparsers: Subparsers, *, context: h.Context | None = None) -> None:
    """Add ``crew`` and ``scim`` to the ``rpkit`` command's subparsers.

    Each leaf parser sets ``handler`` (``args -> exit code``), as ``rpkit.cli`` expects.
    """
    ctx = context or h.Context(None, ScimClient)

    def bind(function: Callable[[h.Context, argparse.Namespace], int]) -> Handler:
        def handler(args: argparse.Namespace) -> int:
            return _guarded(ctx, function, args)

        return handler

    crew = subparsers.add_parser("crew", help="crew roster sync from a CMS export")
    crew_commands = crew.add_subparsers(dest="crew_command", metavar="{sync}")
    sync = crew_commands.add_parser(
        "sync",
        help="plan (and with --apply, make) the changes a CMS roster CSV implies",
        description="Dry run by default: prints the plan as a table.",
    )
    sync.add_argument("roster", help="CSV export from the crew management system")
    sync.add_argument("--apply", action="store_true", help="apply the plan (progress on stderr)")
    sync.add_argument(
        "--departure-policy",
        choices=DEPARTURE_POLICIES,
        default="disable",
        help="what to do with users absent from the roster (default: disable)",
    )
    sync.add_argument(
        "--columns",
        help='header names, e.g. "email=E-mail,imo=IMO,employee_id=Staff No" (fields: '
        "first_name surname email rank employee_id ship_name imo contract_start "
        "contract_end personal_email phone department)",
    )
    sync.add_argument(
        "--date-format",
        default="iso",
        help=f"dates in the export: {', '.join(DATE_FORMATS)} or a strptime pattern such as "
        "%%d/%%m/%%Y (default: iso, YYYY-MM-DD; month names like 05-Mar-2026 always work)",
    )
    sync.add_argument("--delimiter", help="CSV delimiter (default: detected , ; or tab)")
    sync.add_argument(
        "--encoding",
        help="encoding of the export, e.g. cp1252 or utf-16 (default: UTF-8, BOM detected)",
    )
    sync.add_argument("--default-group", action="append", help="group id for new users")
    sync.add_argument(
        "--manage-users-without-external-id",
        action="store_true",
        help="users with no externalId are CMS-managed too, so a departure may touch them "
        "(by default users created by hand, such as office staff, are left alone)",
    )
    sync.add_argument(
        "--allow-empty-roster",
        action="store_true",
        help="let a roster with no rows depart every managed user (refused by default: an "
        "empty export is far likelier broken)",
    )
    sync.add_argument(
        "--workers",
        type=_workers,
        default=DEFAULT_WORKERS,
        help=f"requests in flight during --apply (1-{MAX_WORKERS}, default {DEFAULT_WORKERS})",
    )
    sync.add_argument(
        "--max-departures",
        type=_non_negative,
        help="most departures --apply may carry out (default: 10 %% of the managed users, "
        "at least 5)",
    )
    sync.add_argument(
        "--allow-email-change",
        action="store_true",
        help="let a row change its user's email (the login); refused by default",
    )
    sync.add_argument(
        "--normalize-ranks",
        action="store_true",
        help='send canonical rank names ("2/O" -> "Second Officer")',
    )
    sync.add_argument("--json", action="store_true", help="print the plan and report as JSON")
    sync.add_argument(
        "--strict",
        action="store_true",
        help="invalid rows make the exit code 1 (and --apply sends nothing)",
    )
    _connection_flags(sync)
    sync.set_defaults(handler=bind(h.crew_sync))

    scim = subparsers.add_parser("scim", help="Dualog User API (SCIM): users and groups")
    resources = scim.add_subparsers(dest="scim_resource", metavar="{users,groups}")
    users = resources.add_parser("users", help="list, get, create, update, delete users")
    user_commands = users.add_subparsers(dest="users_command", metavar="COMMAND")
    listing = user_commands.add_parser("list", help="list users")
    listing.add_argument(
        "--filter", help=f"ATTRIBUTE=VALUE, attribute one of {', '.join(FILTER_ATTRIBUTES)}"
    )
    listing.add_argument("--json", action="store_true", help="print SCIM JSON")
    listing.set_defaults(handler=bind(h.users_list))
    get = user_commands.add_parser("get", help="print one user as JSON")
    get.add_argument("id")
    get.set_defaults(handler=bind(h.users_get))
    create = user_commands.add_parser("create", help="create a user (validated first)")
    _user_fields(create, create=True)
    create.set_defaults(handler=bind(h.users_create))
    update = user_commands.add_parser("update", help="change fields; the rest is kept")
    _user_fields(update, create=False)
    update.set_defaults(handler=bind(h.users_update))
    delete = user_commands.add_parser("delete", help="delete a user")
    delete.add_argument("id")
    delete.set_defaults(handler=bind(h.users_delete))
    for parser in (listing, get, create, update, delete):
        _connection_flags(parser)

    groups = resources.add_parser("groups", help="list, get, create, rename, delete groups")
    group_commands = groups.add_subparsers(dest="groups_command", metavar="COMMAND")
    g_list = group_commands.add_parser("list", help="list groups")
    g_list.add_argument("--json", action="store_true")
    g_list.set_defaults(handler=bind(h.groups_list))
    g_get = group_commands.add_parser("get", help="print one group as JSON")
    g_get.add_argument("id")
    g_get.set_defaults(handler=bind(h.groups_get))
    g_create = group_commands.add_parser("create", help="create a group")
    g_create.add_argument("name")
    g_create.add_argument("--member", action="append", help="user id (repeatable)")
    g_create.set_defaults(handler=bind(h.groups_create))
    g_rename = group_commands.add_parser("rename", help="rename a group (members kept)")
    g_rename.add_argument("id")
    g_rename.add_argument("name")
    g_rename.set_defaults(handler=bind(h.groups_rename))
    g_delete = group_commands.add_parser("delete", help="delete a group")
    g_delete.add_argument("id")
    g_delete.set_defaults(handler=bind(h.groups_delete))
    membership = [
        ("add-member", "add a user to a group", h.groups_add_member),
        ("remove-member", "remove a user from a group", h.groups_remove_member),
    ]
    members = []
    for name, summary, function in membership:
        member = group_commands.add_parser(name, help=summary)
        member.add_argument("group_id")
        member.add_argument("user_id")
        member.set_defaults(handler=bind(function))
        members.append(member)
    for parser in (g_list, g_get, g_create, g_rename, g_delete, *members):
        _connection_flags(parser)


def _guarded(
    ctx: h.Context,
    function: Callable[[h.Context, argparse.Namespace], int],
    args: argparse.Namespace,
) -> int:
    try:
        return function(ctx, args)
    except ConfigurationError as err:
        print(f"rpkit: {err.message}", file=ctx.stderr)
        return 2
    except ValidationError as err:
        print(f"rpkit: invalid {err.field}: {err.message}", file=ctx.stderr)
        return 1
    except RpkitError as err:
        correlation = getattr(err, "correlation_id", None)
        suffix = (
            f" [correlationId {correlation}]"
            if correlation and correlation not in err.message
            else ""
        )
        print(f"rpkit: {err.message}{suffix}", file=ctx.stderr)
        return 1
    except OSError as err:
        print(f"rpkit: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=ctx.stderr)
        return 1


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    """Run ``crew ...`` or ``scim ...`` as the ``rpkit`` command would; return the exit code.

    ``environ`` replaces ``os.environ`` and ``client_factory`` builds the client from the
    config (tests inject a recording sleep this way).
    """
    ctx = h.Context(environ, client_factory or ScimClient)
    parser = argparse.ArgumentParser(prog="rpkit", description="Dualog User API and crew sync.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_subcommands(subparsers, context=ctx)
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(ctx.stdout)
        return 2
    return handler(args)
