"""rpkit sample app: sign in with Dualog Identity over OIDC or SAML.

``create_app()`` reads ``app.config`` and the ``RPKIT_*`` environment. With no identity
provider configured it starts the local sandbox (a fake Dualog) in-process and uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, render_template_string
from werkzeug.exceptions import HTTPException

from rpkit.env import check_variables
from rpkit.errors import ConfigurationError
from rpkit.flask import (
    Rpkit,
    bearer_required,
    current_access_token,
    current_identity,
    current_session,
    error_response,
    login_required,
    rank_required,
    rpkit_state,
)
from rpkit.web.settings import DEFAULT_BASE_URL, collect_env

from . import pages
from .sandbox import provider_configured, sandbox_env, sandbox_url

__all__ = ["create_app"]

log = logging.getLogger("example_app")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the sample app; ``config`` overrides the environment (same ``RPKIT_*`` keys)."""
    app = Flask(__name__)
    app.config.update(config or {})
    values = collect_env(app.config)
    # Before the sandbox decision: a typo (RPKIT_OIDC_CLIENTID) must not read as "no provider".
    check_variables(values)
    base_url = (values.get("RPKIT_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if not provider_configured(values, app.config) and values.get("RPKIT_SANDBOX") != "off":
        app.config.update(sandbox_env(base_url, values))
        app.config["EXAMPLE_SANDBOX_URL"] = sandbox_url(base_url)
    Rpkit(app)
    sandbox = app.config.get("EXAMPLE_SANDBOX_URL")
    for protocol, provider in rpkit_state(app).providers().items():
        log.info(
            "sample app: %s signs in with %s%s",
            protocol.upper(),
            provider,
            " (the embedded sandbox)" if sandbox else "",
        )
    _routes(app)
    _errors(app)
    return app


def _render(body: str, **context: Any) -> str:
    return render_template_string(pages.page(body), **context)


def _routes(app: Flask) -> None:
    @app.get("/")
    def home() -> str:
        return _render(
            pages.HOME,
            identity=current_identity(),
            protocols=rpkit_state().protocols,
            sandbox_url=app.config.get("EXAMPLE_SANDBOX_URL"),
        )

    @app.get("/profile")
    @login_required
    def profile() -> str:
        identity = current_identity()
        assert identity is not None
        ranks = rpkit_state().settings.ranks
        return _render(
            pages.PROFILE,
            identity=identity,
            canonical_rank=ranks.canonical(identity.rank),
            is_deck_officer=ranks.allows(identity.rank, "deck_officers"),
        )

    @app.get("/bridge")
    @rank_required("deck_officers")
    def bridge() -> str:
        return _render(pages.BRIDGE, identity=current_identity())

    @app.get("/me")
    def me() -> Response:
        record = current_session()
        if record is None:
            answer = jsonify({"authenticated": False})
            answer.status_code = 401
            return answer
        return jsonify(pages.me(record.identity))

    def api_crew_me() -> Response:
        token = current_access_token()
        assert token is not None
        return jsonify(pages.api_crew_me(token))

    try:
        rpkit_state(app).check_bearer_configuration()
    except ConfigurationError as err:
        # Sign-in works without an API audience; the API must not. Rather than refuse to
        # start (what bearer_required does), the sample app keeps serving people and
        # answers every token with a 401 that says what to configure.
        app.logger.warning("sample app: /api/crew/me refuses every token: %s", err.message)
        app.get("/api/crew/me")(_api_not_configured)
    else:
        app.get("/api/crew/me")(bearer_required()(api_crew_me))


def _api_not_configured() -> Response:
    answer = error_response(
        401,
        "API not configured",
        pages.API_NOT_CONFIGURED,
        code="api_not_configured",
        as_json=True,
    )
    answer.headers["WWW-Authenticate"] = pages.API_NOT_CONFIGURED_CHALLENGE
    return answer


def _errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        title = exc.name if status < 500 else "Something went wrong"
        message = exc.description if status < 500 else "Please try again later."
        return error_response(status, title, message or title, code=f"http_{status}")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        app.logger.exception("unexpected error")
        return error_response(
            500, "Something went wrong", "Please try again later.", code="internal_error"
        )
