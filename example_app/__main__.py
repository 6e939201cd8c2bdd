"""``python -m example_app``: serve the sample app on the host and port of RPKIT_BASE_URL."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import make_server

from rpkit import __version__
from rpkit.errors import ConfigurationError
from rpkit.web.settings import DEFAULT_BASE_URL

from . import create_app
from .sandbox import sandbox_url

_DESCRIPTION = """\
The rpkit sample app: sign in with Dualog Identity over OIDC or SAML.

Configured by the RPKIT_* environment (see README.md). With no identity provider set it
starts the sandbox, a local fake Dualog, in-process and signs in through it.
"""

_EPILOG = f"""\
The app listens on the host and port of RPKIT_BASE_URL (default {DEFAULT_BASE_URL}).
--host/--port change where it listens; when RPKIT_BASE_URL is unset they also make the
public URL (http://HOST:PORT). Behind a reverse proxy, set RPKIT_BASE_URL to the public
URL and --host/--port to the local address.
"""


def _arguments(argv: Sequence[str] | None, prog: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="address to listen on (default: RPKIT_BASE_URL's host)")
    parser.add_argument(
        "--port", type=int, help="port to listen on (default: RPKIT_BASE_URL's port)"
    )
    parser.add_argument("--version", action="version", version=f"rpkit {__version__}")
    return parser.parse_args(argv)


def _port_free(host: str, port: int) -> OSError | None:
    """Try the bind the server will do, before anything else starts (the embedded sandbox),
    so a taken port is one clear message instead of a half-started demo."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            return err
    return None


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv, prog="python -m example_app", create=create_app, serve=serve_wsgi)


def serve_wsgi(app: Any, host: str, port: int) -> None:
    make_server(host, port, app, threaded=True).serve_forever()


def run(
    argv: Sequence[str] | None,
    *,
    prog: str,
    create: Callable[[], Any],
    serve: Callable[[Any, str, int], None],
) -> int:
    """Serve the app ``create`` builds on the host and port of RPKIT_BASE_URL (shared by the
    Flask and the FastAPI sample apps)."""
    args = _arguments(argv, prog)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    base_url = os.environ.get("RPKIT_BASE_URL") or ""
    if not base_url:
        default = urlsplit(DEFAULT_BASE_URL)
        base_url = f"http://{args.host or default.hostname}:{args.port or default.port}"
        if args.host or args.port:
            # The sample app and its embedded sandbox derive every URL from RPKIT_BASE_URL.
            os.environ["RPKIT_BASE_URL"] = base_url
    parts = urlsplit(base_url)
    host = args.host or parts.hostname or "127.0.0.1"
    port = args.port if args.port is not None else parts.port
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    taken = _port_free(host, port)
    if taken is not None:
        reason = "is already in use" if taken.errno == errno.EADDRINUSE else f"failed: {taken}"
        print(
            f"example_app: listening on {host}:{port} {reason}.\n"
            f"  The address comes from RPKIT_BASE_URL={base_url}; set RPKIT_BASE_URL to a "
            "free port (and register that redirect URI), or pass --port to listen elsewhere.",
            file=sys.stderr,
        )
        return 2
    try:
        app = create()
    except ConfigurationError as err:
        print(f"example_app: configuration error: {err}", file=sys.stderr)
        if "cannot listen" in str(err):
            print(
                "  the embedded sandbox needs a free port: set RPKIT_SANDBOX_PORT (0 = any)",
                file=sys.stderr,
            )
        return 2
    sandbox = sandbox_url(base_url.rstrip("/"))
    print(f"rpkit sample app: open {base_url.rstrip('/')}/", flush=True)
    if sandbox:
        print(f"  signing in through the embedded sandbox (fake Dualog) at {sandbox}", flush=True)
    serve(app, host, port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
