"""``Rpkit``: the Flask extension object; its state lives in ``app.extensions["rpkit"]``."""

from __future__ import annotations

import functools
import logging
import secrets
from typing import Any

from flask import Flask, Response, g, request

from ..errors import RpkitError
from ..web.pages import security_headers
from ..web.settings import Settings
from ._state import (
    BEARER_VIEW_MARK,
    EXTENSION_KEY,
    SIGNED_OUT_COOKIE,
    RpkitState,
    csrf_token,
    current_identity,
    current_session,
    rpkit_state,
)
from .web import correlation_id, response_for_error

__all__ = [
    "Rpkit",
    "RpkitState",
    "csrf_token",
    "current_identity",
    "current_session",
    "rpkit_state",
]

log = logging.getLogger("rpkit.flask")


class Rpkit:
    """Sign-in with Dualog Identity for a Flask app (OIDC and SAML).

    ``Rpkit(app)`` or, with an app factory, ``rpkit = Rpkit()`` then ``rpkit.init_app(app)``.
    Configuration comes from ``app.config`` and the ``RPKIT_*`` environment (see
    :mod:`rpkit.web.settings`); a bad configuration raises ``ConfigurationError`` here.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        from .views import bp

        settings = Settings.from_config(app.config)
        if settings.secret_key and not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = settings.secret_key
        elif not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
        state = RpkitState(settings)
        app.extensions[EXTENSION_KEY] = state
        if not state.protocols:
            log.warning(
                "rpkit: no identity provider is configured, so nobody can sign in: set "
                "RPKIT_OIDC_CLIENT_ID (with RPKIT_OIDC_ISSUER or RPKIT_OIDC_SHIP_HOST) or "
                "RPKIT_SAML_IDP_METADATA_URL (or RPKIT_SAML_IDP_METADATA_FILE)"
            )
        _check_bearer_views(app, state)
        app.register_blueprint(bp)
        app.register_error_handler(RpkitError, _handle_rpkit_error)
        app.after_request(_security_headers)
        app.after_request(_clear_signed_out_notice)
        app.context_processor(_template_globals)

    @staticmethod
    def state(app: Flask | None = None) -> RpkitState:
        return rpkit_state(app)


def _template_globals() -> dict[str, Any]:
    return {
        "rpkit_identity": current_identity,
        "rpkit_csrf_token": csrf_token,
        "rpkit_protocols": lambda: rpkit_state().protocols,
        "rpkit_url": lambda path: rpkit_state().settings.path_prefix + path,
        "rpkit_signed_out": signed_out,
    }


def signed_out() -> bool:
    """Whether this browser has just signed out (shown once: the notice cookie is then
    cleared). For a "You have signed out" line on the page logout returns to."""
    if request.cookies.get(SIGNED_OUT_COOKIE) != "1" or current_identity() is not None:
        return False
    g.rpkit_signed_out_shown = True
    return True


def _check_bearer_views(app: Flask, state: RpkitState) -> None:
    """Refuse, at start, bearer views the configuration cannot protect.

    Views registered before ``init_app`` are checked now; later ones (``@app.get`` after
    ``Rpkit(app)``, blueprints) when they are added: Flask has no "app is ready" hook, and
    ``add_url_rule`` is the one path every route registration takes.
    """
    for view in app.view_functions.values():
        if hasattr(view, BEARER_VIEW_MARK):
            state.check_bearer_configuration()
    add_url_rule = app.add_url_rule

    @functools.wraps(add_url_rule)
    def checked_add_url_rule(*args: Any, **kwargs: Any) -> None:
        view = kwargs.get("view_func", args[2] if len(args) > 2 else None)
        if hasattr(view, BEARER_VIEW_MARK):
            state.check_bearer_configuration()
        add_url_rule(*args, **kwargs)

    setattr(app, "add_url_rule", checked_add_url_rule)  # noqa: B010 - an instance override


def _handle_rpkit_error(exc: RpkitError) -> Response:
    return response_for_error(exc)


def _clear_signed_out_notice(response: Response) -> Response:
    if g.get("rpkit_signed_out_shown"):
        rpkit_state().clear_cookie(response, SIGNED_OUT_COOKIE)
    return response


def _security_headers(response: Response) -> Response:
    # A session cookie, not a store lookup: this runs after error pages too, and must not
    # fail when the store is down.
    no_store = request.path.startswith("/auth/") or rpkit_state().session_cookie in request.cookies
    headers = response.headers
    present = {name.lower() for name in headers.keys()}  # one pass, not one per header
    for name, value in security_headers(
        headers.get("Content-Security-Policy", ""),
        no_store=no_store,
        correlation_id=correlation_id(),
    ).items():
        if name.lower() not in present:
            headers.add(name, value)
    return response
