"""``rpkit doctor``: check an integration end to end without changing anything at Dualog.

Exit codes: 0 when no check failed (warnings allowed), 1 when one failed, 2 for a usage
error (bad arguments, an unreadable ``--env-file``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from ..errors import ConfigurationError
from .runner import GROUPS, run_doctor

__all__ = ["register"]


def _only(value: str) -> list[str]:
    groups = [g.strip() for g in value.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown or not groups:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(GROUPS)} (comma-separated)")
    return groups


def _run(args: argparse.Namespace) -> int:
    only = [g for groups in args.only or () for g in groups]
    # The app's start-up warnings (the demo SP key pair...) would interleave with the
    # table; what matters of them is in the checks' messages.
    logger = logging.getLogger("rpkit")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        report = run_doctor(env_file=args.env_file, only=only)
    except ConfigurationError as err:
        print(f"rpkit doctor: {err}", file=sys.stderr)
        return 2
    finally:
        logger.setLevel(level)
    print(report.to_json() if args.json else report.render(), flush=True)
    return report.exit_code


def register(subparsers: Any) -> None:
    """Add ``rpkit doctor`` to the ``rpkit`` command."""
    parser = subparsers.add_parser(
        "doctor",
        help="check the RPKIT_* configuration against the provider (changes nothing there)",
        description=(
            "Check every configured part (OIDC, SAML, SCIM, Redis) the way the app will use "
            "it, and print each check's status, what it found and the fix. Exit 0 when no "
            "check failed, 1 when one did, 2 for usage errors. Check ids: docs/doctor.md."
        ),
    )
    parser.add_argument(
        "--env-file",
        metavar="FILE",
        help="read RPKIT_* variables from FILE (overrides the environment)",
    )
    parser.add_argument(
        "--only",
        type=_only,
        action="append",
        metavar="|".join(GROUPS),
        help="run only these checks (repeatable or comma-separated); config.env always runs",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"ok": bool, "checks": [{"id", "status", "message", "fix"}]}',
    )
    parser.set_defaults(handler=_run)
