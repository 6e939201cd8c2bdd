"""Starlette and FastAPI integration: sign-in with Dualog Identity (``rpkit[fastapi]``).

::

    from fastapi import Depends, FastAPI
    from rpkit.starlette import Rpkit, require_login, require_rank, require_bearer

    app = FastAPI()
    rpkit = Rpkit()                     # config from the RPKIT_* environment
    rpkit.install(app)                  # /auth/... routes, error pages, security headers

    @app.get("/bridge")
    async def bridge(identity=Depends(require_rank("deck_officers"))): ...

Sessions are server-side (memory or Redis, as in the Flask extension); logout is a
CSRF-protected ``POST /auth/logout``. Outbound HTTP runs in the worker-thread pool, never
on the event loop.

Owns: the Starlette/FastAPI routes, dependencies and pages, on ``rpkit.web``.
Must not import: ``rpkit.flask``, ``rpkit.django``, the sandbox or ``rpkit.testing``; no
protocol rule and no blocking call on the event loop (floor 4).
"""

from .dependencies import (
    current_identity,
    require_bearer,
    require_login,
    require_rank,
    rpkit_of,
)
from .extension import Rpkit, RpkitAnswer, is_api_request, offload

__all__ = [
    "Rpkit",
    "RpkitAnswer",
    "current_identity",
    "is_api_request",
    "offload",
    "require_bearer",
    "require_login",
    "require_rank",
    "rpkit_of",
]
