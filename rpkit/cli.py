"""The ``rpkit`` command.

Each subcommand is a ``register(subparsers)`` function in :data:`COMMANDS` that adds its
parser and sets ``handler`` (``args -> exit code``) as a default. To add ``rpkit crew
sync``, write ``_register_crew`` and append it to ``COMMANDS``; nothing else changes.

Owns: the ``rpkit`` command and its subcommands.
Must not import: nothing is forbidden to it (floor 5, the top); nothing but
``rpkit.__main__`` imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

__all__ = ["COMMANDS", "build_parser", "main"]

Subparsers = Any  # argparse._SubParsersAction is private; its type is not public
Register = Callable[[Subparsers], None]


def _sandbox_config(args: argparse.Namespace) -> Any:
    from .sandbox.config import SEED_FILE, SandboxConfig, stored_admin_token

    overrides: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "base_url": args.base_url,
        "data_dir": Path(args.data_dir),
        "seed_file": Path(args.seed) if args.seed else SEED_FILE,
    }
    overrides["admin_token"] = args.admin_token or stored_admin_token(Path(args.data_dir))
    if args.allow_any_sp:
        overrides["allow_any_sp"] = True
    if args.tls:
        overrides["tls"] = True
        overrides["tls_hostnames"] = tuple(args.hostname or ())
    elif args.hostname:
        raise ConfigurationError('"--hostname" names the TLS certificate; add "--tls"')
    config = SandboxConfig.load(args.config, **overrides) if args.config else None
    clients, sps = _app_registrations(args)
    if clients or sps:
        base = config or SandboxConfig(**overrides)
        # The app's own client first, so ``--client`` wins over a default of the same id.
        taken = {c.client_id for c in clients}
        overrides["clients"] = clients + tuple(c for c in base.clients if c.client_id not in taken)
        overrides["service_providers"] = base.service_providers + sps
        overrides["env_client_id"] = clients[0].client_id if clients else None
        return base.with_overrides(**overrides)
    return config or SandboxConfig(**overrides)


def _app_registrations(args: argparse.Namespace) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The clients of ``--client ID:SECRET --redirect-uri URL ...`` (in the order given: each
    ``--redirect-uri``/``--post-logout-uri`` belongs to the ``--client`` before it) and the
    SPs of ``--sp METADATA_URL_OR_FILE``."""
    from .sandbox.config import SamlServiceProviderConfig, app_client

    groups: list[tuple[str, list[str], list[str]]] = []
    for option, value in args.registrations or ():
        if option == "client":
            groups.append((value, [], []))
        elif not groups:
            raise ConfigurationError(f'"--{option}" {value!r} must follow a "--client ID:SECRET"')
        elif option == "redirect-uri":
            groups[-1][1].append(value)
        else:
            groups[-1][2].append(value)
    clients = tuple(app_client(spec, redirects, logouts) for spec, redirects, logouts in groups)
    sps = tuple(
        SamlServiceProviderConfig(metadata_url=sp)
        if sp.startswith(("http://", "https://"))
        else SamlServiceProviderConfig(metadata_file=sp)
        for sp in args.sp or ()
    )
    return clients, sps


class _Ordered(argparse.Action):
    """Keep ``--client``, ``--redirect-uri`` and ``--post-logout-uri`` in command-line order."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        seen = list(getattr(namespace, self.dest, None) or [])
        seen.append((str(option).lstrip("-"), str(values)))
        setattr(namespace, self.dest, seen)


def _run_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import SandboxServer

    server = SandboxServer(_sandbox_config(args)).start()
    print(server.banner(), flush=True)
    server.serve_forever()
    return 0


def _admin_token(args: argparse.Namespace) -> str:
    token: str = args.admin_token or ""
    if not token:
        stored = Path(args.data_dir) / "admin-token"
        token = stored.read_text(encoding="utf-8").strip() if stored.is_file() else ""
    if not token:
        raise ConfigurationError('the admin API needs "--admin-token" (printed at sandbox start)')
    return token


def _admin_call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """Call a running sandbox's admin API (``/_sandbox/<path>``) and return its JSON.

    Over https the sandbox's certificates in ``--data-dir`` are pinned (see
    ``rpkit.sandbox.admin_client``), so the controls work while a TLS fault is on.
    """
    from .sandbox.admin_client import call_admin
    from .sandbox.tls import trusted_fingerprints

    return call_admin(
        args.url,
        path,
        token=_admin_token(args),
        method=method,
        body=body,
        pins=trusted_fingerprints(Path(args.data_dir)),
    )


def _control(args: argparse.Namespace) -> int:
    """Run one admin-API call built by the subcommand's ``control`` function."""
    method, path, body = args.control(args)
    try:
        result = _admin_call(args, method, path, body)
    except (OSError, ValueError) as err:
        print(f"rpkit: the sandbox admin API at {args.url} failed: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def _claim_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _next_claims(args: argparse.Namespace) -> tuple[str, str, Any]:
    claims: dict[str, Any] = {}
    for item in args.claims:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigurationError(
                f"claim {item!r} must be NAME=VALUE (VALUE as JSON; null removes)"
            )
        claims[name] = _claim_value(value)
    return "POST", "next-token-claims", {"token": args.token, "claims": claims}


def _fault(args: argparse.Namespace) -> tuple[str, str, Any]:
    body: dict[str, Any] = {"kind": args.kind}
    for name in ("status", "retry_after", "delay", "times", "every", "when"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    return "PUT", f"faults/{args.endpoint}", body


def _clock(args: argparse.Namespace) -> tuple[str, str, Any]:
    if args.offset is not None:
        return "POST", "clock", {"offset_seconds": args.offset}
    return "POST", "clock", {"advance_seconds": args.advance}


def _reset_sandbox(args: argparse.Namespace) -> int:
    if args.url:
        try:
            _admin_call(args, "POST", "reset")
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
    app = parser.add_argument_group(
        "your own app",
        "Register your app, so it can sign in here wherever it runs: "
        "--client my-app:secret --redirect-uri http://127.0.0.1:5081/auth/oidc/callback",
    )
    app.add_argument(
        "--client",
        action=_Ordered,
        dest="registrations",
        metavar="ID:SECRET",
        help="an OIDC client for your app (ID: alone for a public client); the env block shows it",
    )
    app.add_argument(
        "--redirect-uri",
        action=_Ordered,
        dest="registrations",
        metavar="URL",
        help="a sign-in redirect URI of the --client before it (repeatable)",
    )
    app.add_argument(
        "--post-logout-uri",
        action=_Ordered,
        dest="registrations",
        metavar="URL",
        help="a sign-out redirect URI of the --client before it (default: the redirect "
        "URI's origin + /)",
    )
    app.add_argument(
        "--sp",
        action="append",
        metavar="METADATA_URL_OR_FILE",
        help="a SAML service provider, from its metadata (a URL is read at start: start "
        "the app first)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve https with a private CA kept in the data dir (rehearse a ship server)",
    )
    parser.add_argument(
        "--hostname",
        nargs="+",
        action="extend",
        metavar="NAME|IP",
        help="names on the TLS certificate; the first is in the URLs (default: --host, localhost)",
    )
    parser.set_defaults(handler=_run_sandbox)
    commands = parser.add_subparsers(dest="sandbox_command", metavar="COMMAND")
    reset = commands.add_parser("reset", help="restore the seed data")
    reset.add_argument("--data-dir", default=".rpkit-sandbox", help="the sandbox data dir")
    reset.add_argument("--seed", metavar="FILE", help="seed file (default: the shipped one)")
    reset.add_argument("--url", help="reset a running sandbox over its admin API instead")
    reset.add_argument("--admin-token", help="the running sandbox's admin token")
    reset.set_defaults(handler=_reset_sandbox)
    _register_controls(commands)


def _register_controls(commands: Subparsers) -> None:
    """Admin-API controls of a running sandbox, for demos and manual tests."""

    def control(name: str, help_text: str, build: Callable[[argparse.Namespace], Any]) -> Any:
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("--url", default="http://127.0.0.1:8080", help="running sandbox")
        parser.add_argument("--data-dir", default=".rpkit-sandbox", help="holds admin-token")
        parser.add_argument("--admin-token", help="the running sandbox's admin token")
        parser.set_defaults(handler=_control, control=build)
        return parser

    counts = control(
        "counts",
        "requests per endpoint since reset",
        lambda a: (
            "GET",
            "requests?by=method"
            if a.by_method
            else "requests?by=status"
            if a.by_status
            else "requests",
            None,
        ),
    )
    split = counts.add_mutually_exclusive_group()
    split.add_argument("--by-method", action="store_true", help="split counts by HTTP method")
    split.add_argument("--by-status", action="store_true", help="split counts by answer status")
    fault = control("fault", "inject a fault into an endpoint", _fault)
    fault.add_argument("endpoint", help="discovery, jwks, token, userinfo, scim_users, ...")
    fault.add_argument("kind", choices=("latency", "error", "rate_limit", "malformed"))
    fault.add_argument("--status", type=int, help="HTTP status for kind=error")
    fault.add_argument("--retry-after", type=float, help="seconds, for kind=rate_limit")
    fault.add_argument("--delay", type=float, help="seconds, for kind=latency")
    fault.add_argument("--times", type=int, help="only the next N requests")
    fault.add_argument("--every", type=int, help="only every Nth request (the Nth, 2Nth...)")
    fault.add_argument(
        "--when",
        choices=("before", "after"),
        help="latency before handling (default) or after, so the request lands first",
    )
    control("clear-faults", "remove every injected fault", lambda a: ("DELETE", "faults", None))
    claims = control("next-claims", "override claims of the next token", _next_claims)
    claims.add_argument(
        "--token", default="id_token", choices=("id_token", "access_token", "userinfo")
    )
    claims.add_argument(
        "claims", nargs="+", metavar="NAME=VALUE", help="VALUE is JSON; null removes"
    )
    rotate = control(
        "rotate-keys",
        "sign with a new key",
        lambda a: ("POST", "keys/rotate", {"grace_seconds": a.grace, "publish": not a.unpublished}),
    )
    rotate.add_argument("--grace", type=float, default=300, help="old key stays published (s)")
    rotate.add_argument("--unpublished", action="store_true", help="do not publish the new key")
    control("publish-keys", "publish every key", lambda a: ("POST", "keys/publish", None))
    rotate_saml = control(
        "rotate-saml-cert",
        "sign SAML messages with a new certificate",
        lambda a: (
            "POST",
            "saml/keys/rotate",
            {"grace_seconds": a.grace, "publish": not a.unpublished},
        ),
    )
    rotate_saml.add_argument(
        "--grace", type=float, default=300, help="old certificate stays in metadata (s)"
    )
    rotate_saml.add_argument(
        "--unpublished", action="store_true", help="leave the new certificate out of metadata"
    )
    control(
        "publish-saml-certs",
        "list every SAML certificate in metadata",
        lambda a: ("POST", "saml/keys/publish", None),
    )
    metadata = control(
        "metadata",
        "set the SAML metadata's validUntil (a metadata fault)",
        lambda a: ("PUT", "saml/metadata", {"valid_for_seconds": a.valid_for}),
    )
    metadata.add_argument(
        "--valid-for",
        type=float,
        required=True,
        metavar="SECONDS",
        help="validUntil = now + SECONDS (negative: expired)",
    )
    secret = control(
        "client-secret",
        "give a client a new secret (the app's configured one is then wrong)",
        lambda a: ("POST", f"clients/{a.client_id}/secret", {"client_secret": a.secret}),
    )
    secret.add_argument("client_id")
    secret.add_argument("secret")
    tls = control(
        "tls",
        "serve another TLS certificate (a TLS fault) to new connections",
        lambda a: ("PUT", "tls", {"certificate": a.certificate}),
    )
    tls.add_argument("certificate", choices=_tls_certificates())
    clock = control("clock", "shift the sandbox clock", _clock)
    group = clock.add_mutually_exclusive_group(required=True)
    group.add_argument("--advance", type=float, help="move the clock forward by seconds")
    group.add_argument("--offset", type=float, help="set the offset from real time (s)")


def _tls_certificates() -> tuple[str, ...]:
    # Spelled out here so `rpkit --help` does not import cryptography; a test keeps the
    # list equal to rpkit.sandbox.tls.TLS_CERTIFICATES.
    return ("valid", "expired", "expiring", "wrong_name", "unknown_ca", "self_signed")


def _register_scim(subparsers: Subparsers) -> None:
    # Imported here so `rpkit sandbox` does not load the SCIM client, and vice versa.
    from .scim.cli import add_subcommands

    add_subcommands(subparsers)


def _register_doctor(subparsers: Subparsers) -> None:
    from .doctor.cli import register

    register(subparsers)


COMMANDS: list[Register] = [_register_sandbox, _register_scim, _register_doctor]


def build_parser() -> argparse.ArgumentParser:
    """The ``rpkit`` argument parser with every registered subcommand."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="rpkit", description="Dualog Identity toolkit.")
    parser.add_argument("--version", action="version", version=f"rpkit {__version__}")
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
