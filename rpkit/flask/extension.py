"""``Rpkit``: the Flask extension object; its state lives in ``app.extensions["rpkit"]``."""

from __future__ import annotations

import functools
import logging
import secrets
from typing import Any

from flask import Flask, Response, current_app, g, request

from ..errors import RpkitError
from ..identity import CrewIdentity
from ..web import flow
from ..web.flow import WebState
from ..web.pages import security_headers
from ..web.sessions import NewSession, ServerSession
from ..web.settings import Settings
from .web import correlation_id, response_for_error

__all__ = ["Rpkit", "RpkitState", "current_identity", "current_session", "rpkit_state"]

EXTENSION_KEY = "rpkit"
SIGNED_OUT_COOKIE = flow.SIGNED_OUT_COOKIE

log = logging.getLogger("rpkit.flask")
# Set by ``bearer_required`` on the views it wraps (``functools.wraps`` carries it through
# other decorators), so that registering one can be checked at start.
BEARER_VIEW_MARK = "rpkit_bearer_scopes"


class RpkitState(WebState):
    """Per-app state: settings, the shared store, the protocol clients and the sessions
    (:class:`rpkit.web.flow.WebState`), plus the cookies of a Flask response.

    Nothing here talks to an identity provider when it is built: discovery and SAML
    metadata are fetched at the first login, so the app starts while Dualog is unreachable.
    """

    def clear_cookie(self, response: Response, name: str, *, path: str = "/") -> None:
        response.delete_cookie(
            name, path=path, secure=self.settings.secure_cookies, httponly=True, samesite="Lax"
        )

    def prepare_session(self, identity: CrewIdentity, protocol_data: dict[str, Any]) -> NewSession:
        """A fresh session (new id: rotation) whose writes also end this browser's previous one."""
        return self.sessions.prepare(
            identity, protocol_data=protocol_data, replaces=current_session()
        )

    def begin_session(self, response: Response, new: NewSession) -> ServerSession:
        """Hand the browser the cookie of a session whose writes were committed."""
        self.set_cookie(
            response,
            self.session_cookie,
            new.session_id,
            max_age=int(self.settings.session_lifetime.total_seconds()),
        )
        g.rpkit_session = new.record
        return new.record

    def start_session(
        self, response: Response, identity: CrewIdentity, protocol_data: dict[str, Any]
    ) -> ServerSession:
        """Sign the browser in: end any previous session, issue a fresh id (rotation)."""
        new = self.prepare_session(identity, protocol_data)
        self.settings.store.commit(new.batch)
        return self.begin_session(response, new)

    def end_session(self, response: Response, record: ServerSession | None) -> None:
        """End ``record`` (if any) and sign this browser out."""
        if record is not None:
            self.sessions.end(record)
            self.leave(response)
        else:
            self.clear_cookie(response, self.session_cookie)
            g.rpkit_session = None

    def leave(self, response: Response) -> None:
        """The browser's session has ended: clear its cookie and leave the one-time
        signed-out notice for the page it comes back to."""
        self.set_cookie(
            response,
            SIGNED_OUT_COOKIE,
            "1",
            max_age=int(flow.SIGNED_OUT_NOTICE.total_seconds()),
        )
        self.clear_cookie(response, self.session_cookie)
        g.rpkit_session = None


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


def rpkit_state(app: Flask | None = None) -> RpkitState:
    """The extension state of ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    try:
        state: RpkitState = target.extensions[EXTENSION_KEY]
    except KeyError as err:
        raise RuntimeError("rpkit.flask.Rpkit was not initialised on this app") from err
    return state


def current_session() -> ServerSession | None:
    """The signed-in session of this request, or None (loaded once per request)."""
    if "rpkit_session" not in g:
        state = rpkit_state()
        g.rpkit_session = state.sessions.load(request.cookies.get(state.session_cookie))
    record: ServerSession | None = g.rpkit_session
    return record


def current_identity() -> CrewIdentity | None:
    """The signed-in crew member of this request, or None."""
    record = current_session()
    return record.identity if record is not None else None


def csrf_token() -> str:
    """The CSRF token to put in forms that change state (logout); empty when signed out."""
    record = current_session()
    return record.csrf_token if record is not None else ""


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
    for name, value in security_headers(
        response.headers.get("Content-Security-Policy", ""),
        no_store=no_store,
        correlation_id=correlation_id(),
    ).items():
        response.headers.setdefault(name, value)
    return response
