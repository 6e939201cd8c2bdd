"""The ``rpkit`` command.

Each subcommand is a ``register(subparsers)`` function in :data:`COMMANDS` that adds its
parser and sets ``handler`` (``args -> exit code``) as a default. To add ``rpkit crew
sync``, write ``_register_crew`` and append it to ``COMMANDS``; nothing else changes.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

__all__ = ["COMMANDS", "build_parser", "main"]

Subparsers = Any  # argparse._SubParsersAction is private; its type is not public
Register = Callable[[Subparsers], None]


def _stored_admin_token(data_dir: Path) -> str:
    """The admin token kept in the data dir (created on first start), so restarts and
    ``rpkit sandbox reset --url`` reuse it."""
    path = data_dir / "admin-token"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError:
        token = ""
    if len(token) >= 16:
        return token
    token = secrets.token_urlsafe(24)
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return token


def _sandbox_config(args: argparse.Namespace) -> Any:
    from .sandbox.config import SEED_FILE, SandboxConfig

    overrides: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "base_url": args.base_url,
        "data_dir": Path(args.data_dir),
        "seed_file": Path(args.seed) if args.seed else SEED_FILE,
    }
    overrides["admin_token"] = args.admin_token or _stored_admin_token(Path(args.data_dir))
    if args.allow_any_sp:
        overrides["allow_any_sp"] = True
    if args.config:
        return SandboxConfig.load(args.config, **overrides)
    return SandboxConfig(**overrides)


def _run_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import SandboxServer

    server = SandboxServer(_sandbox_config(args)).start()
    print(server.banner(), flush=True)
    server.serve_forever()
    return 0


def _reset_sandbox(args: argparse.Namespace) -> int:
    if args.url:
        token = args.admin_token
        if not token:
            stored = Path(args.data_dir) / "admin-token"
            token = stored.read_text(encoding="utf-8").strip() if stored.is_file() else ""
        if not token:
            raise ConfigurationError('"--url" needs "--admin-token" (printed at sandbox start)')
        request = urllib.request.Request(  # noqa: S310 - the user's own sandbox URL
            args.url.rstrip("/") + "/_sandbox/reset",
            method="POST",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                json.load(response)
        except (OSError, ValueError) as err:
            print(f"rpkit: reset over the admin API failed: {err}", file=sys.stderr)
            return 1
        print(f"Sandbox at {args.url} reset to its seed.")
        return 0
    from .sandbox.clock import SandboxClock
    from .sandbox.config import SEED_FILE
    from .sandbox.crew import CrewStore, load_seed

    seed = load_seed(Path(args.seed) if args.seed else SEED_FILE)
    store = CrewStore(Path(args.data_dir) / "crew.sqlite3")
    try:
        store.reset(seed, SandboxClock().now())
    finally:
        store.close()
    print(f"Crew store in {args.data_dir} reset to its seed.")
    return 0


def _register_sandbox(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="run the local fake Dualog (OIDC, SAML, SCIM)",
        description="Serve a local fake of Dualog Identity on Dualog's own paths.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any)")
    parser.add_argument("--base-url", help="public base URL, e.g. behind a proxy")
    parser.add_argument("--data-dir", default=".rpkit-sandbox", help="crew store and keys")
    parser.add_argument("--seed", metavar="FILE", help="seed file (default: the shipped one)")
    parser.add_argument("--config", metavar="FILE", help="extra clients/SPs (JSON or TOML)")
    parser.add_argument("--admin-token", help="admin API token (default: random, printed)")
    parser.add_argument(
        "--allow-any-sp", action="store_true", help="accept unregistered SAML SPs (dev)"
    )
    parser.set_defaults(handler=_run_sandbox)
    commands = parser.add_subparsers(dest="sandbox_command", metavar="{reset}")
    reset = commands.add_parser("reset", help="restore the seed data")
    reset.add_argument("--data-dir", default=".rpkit-sandbox", help="the sandbox data dir")
    reset.add_argument("--seed", metavar="FILE", help="seed file (default: the shipped one)")
    reset.add_argument("--url", help="reset a running sandbox over its admin API instead")
    reset.add_argument("--admin-token", help="the running sandbox's admin token")
    reset.set_defaults(handler=_reset_sandbox)


def _register_scim(subparsers: Subparsers) -> None:
    # Imported here so `rpkit sandbox` does not load the SCIM client, and vice versa.
    from .scim.cli import add_subcommands

    add_subcommands(subparsers)


COMMANDS: list[Register] = [_register_sandbox, _register_scim]


def build_parser() -> argparse.ArgumentParser:
    """The ``rpkit`` argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="rpkit", description="Dualog Identity toolkit.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rpkit`` command; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except ConfigurationError as err:
        print(f"rpkit: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
