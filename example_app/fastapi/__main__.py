"""``python -m example_app.fastapi``: serve the FastAPI sample app with uvicorn on the host
and port of RPKIT_BASE_URL (the same options and environment as ``python -m example_app``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ..__main__ import run
from . import create_app


def _serve_asgi(app: Any, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv, prog="python -m example_app.fastapi", create=create_app, serve=_serve_asgi)


if __name__ == "__main__":
    sys.exit(main())
