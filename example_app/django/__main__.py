"""``python -m example_app.django``: serve the Django sample app on the host and port of
RPKIT_BASE_URL (the same options, environment and WSGI server as ``python -m example_app``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..__main__ import run, serve_wsgi
from . import create_app


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv, prog="python -m example_app.django", create=create_app, serve=serve_wsgi)


if __name__ == "__main__":
    sys.exit(main())
