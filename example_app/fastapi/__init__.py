"""The sample app on FastAPI: the same routes and ``RPKIT_*`` contract as ``example_app``.

``create_app()`` reads ``config`` and the ``RPKIT_*`` environment. With no identity
provider configured it starts the local sandbox (a fake Dualog) in-process and uses it.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from rpkit.errors import ConfigurationError
from rpkit.identity import CrewIdentity
from rpkit.oidc import AccessToken
from rpkit.starlette import Rpkit, require_bearer, require_login, require_rank
from rpkit.web.settings import DEFAULT_BASE_URL, collect_env

from .. import pages
from ..sandbox import provider_configured, sandbox_env, sandbox_url

__all__ = ["create_app"]

log = logging.getLogger("example_app")

# FastAPI dependencies, spelled once: the signed-in crew member, a deck officer, a token.
SignedIn = Annotated[CrewIdentity, Depends(require_login)]
DeckOfficer = Annotated[CrewIdentity, Depends(require_rank("deck_officers"))]
Token = Annotated[AccessToken, Depends(require_bearer())]

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def create_app(config: Mapping[str, Any] | None = None) -> FastAPI:
    """Build the sample app; ``config`` overrides the environment (same ``RPKIT_*`` keys)."""
    settings = dict(config or {})
    values = collect_env(settings)
    base_url = (values.get("RPKIT_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    sandbox: str | None = None
    if not provider_configured(values, settings) and values.get("RPKIT_SANDBOX") != "off":
        settings.update(sandbox_env(base_url, values))
        sandbox = sandbox_url(base_url)
    rpkit = Rpkit(settings, templates=[TEMPLATES])
    app = FastAPI(
        title="rpkit sample app",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_freeze_startup_heap,
    )
    app.state.sandbox_url = sandbox
    rpkit.install(app)
    _routes(app, rpkit, sandbox)
    _errors(app, rpkit)
    return app


@asynccontextmanager
async def _freeze_startup_heap(app: FastAPI) -> AsyncIterator[None]:
    """Before serving: move everything startup built (modules, templates, keys, the app)
    out of the cyclic garbage collector's reach (``gc.freeze``). A full collection walks
    every tracked object on the event loop's thread; under a burst of logins one came
    about once per 150 logins and stopped the loop for 60-105 ms on a 2-core machine,
    longer than any request. Frozen, a full collection walks only what requests made."""
    gc.collect()  # what startup threw away is freed now, not frozen with the rest
    gc.freeze()
    yield


def _routes(app: FastAPI, rpkit: Rpkit, sandbox: str | None) -> None:
    ranks = rpkit.state.settings.ranks
    home_page = rpkit.templates.from_string(pages.page(pages.HOME))
    profile_page = rpkit.templates.from_string(pages.page(pages.PROFILE))
    bridge_page = rpkit.templates.from_string(pages.page(pages.BRIDGE))

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        return await rpkit.render(
            request,
            home_page,
            identity=await rpkit.identity(request),
            protocols=rpkit.state.protocols,
            sandbox_url=sandbox,
        )

    @app.get("/profile", response_class=HTMLResponse)
    async def profile(request: Request, identity: SignedIn) -> str:
        return await rpkit.render(
            request,
            profile_page,
            identity=identity,
            canonical_rank=ranks.canonical(identity.rank),
            is_deck_officer=ranks.allows(identity.rank, "deck_officers"),
        )

    @app.get("/bridge", response_class=HTMLResponse)
    async def bridge(request: Request, identity: DeckOfficer) -> str:
        return await rpkit.render(request, bridge_page, identity=identity)

    @app.get("/me")
    async def me(request: Request) -> Response:
        record = await rpkit.session(request)
        if record is None:
            return JSONResponse({"authenticated": False}, status_code=401)
        return JSONResponse(pages.me(record.identity))

    try:
        rpkit.state.check_bearer_configuration()
    except ConfigurationError as err:
        # As the Flask sample app: people can sign in, the API answers every token with a
        # 401 that says what to configure.
        log.warning("sample app: /api/crew/me refuses every token: %s", err.message)

        @app.get("/api/crew/me")
        async def api_not_configured(request: Request) -> Response:
            answer = rpkit.error_response(
                request,
                401,
                "API not configured",
                pages.API_NOT_CONFIGURED,
                code="api_not_configured",
                as_json=True,
            )
            answer.headers["WWW-Authenticate"] = pages.API_NOT_CONFIGURED_CHALLENGE
            return answer

    else:

        @app.get("/api/crew/me")
        async def api_crew_me(token: Token) -> Response:
            return JSONResponse(pages.api_crew_me(token))


def _errors(app: FastAPI, rpkit: Rpkit) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        title = exc.detail if status < 500 else "Something went wrong"
        message = exc.detail if status < 500 else "Please try again later."
        return rpkit.error_response(request, status, title, message, code=f"http_{status}")

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return rpkit.error_response(
            request, 500, "Something went wrong", "Please try again later.", code="internal_error"
        )

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
