"""``python -m example_app``: serve the sample app on the host and port of RPKIT_BASE_URL."""

from __future__ import annotations

import logging
import os
import sys
from urllib.parse import urlsplit

from werkzeug.serving import run_simple

from rpkit.errors import ConfigurationError
from rpkit.flask.settings import DEFAULT_BASE_URL

from . import create_app


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    base_url = os.environ.get("RPKIT_BASE_URL") or DEFAULT_BASE_URL
    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        app = create_app()
    except ConfigurationError as err:
        print(f"example_app: configuration error: {err}", file=sys.stderr)
        if "cannot listen" in str(err):
            print(
                "  the embedded sandbox needs a free port: set RPKIT_SANDBOX_PORT (0 = any)",
                file=sys.stderr,
            )
        return 2
    sandbox = app.config.get("EXAMPLE_SANDBOX_URL")
    print(f"rpkit sample app: open {base_url.rstrip('/')}/", flush=True)
    if sandbox:
        print(f"  signing in through the embedded sandbox (fake Dualog) at {sandbox}", flush=True)
    run_simple(host, port, app, threaded=True, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
