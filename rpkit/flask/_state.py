"""The Flask extension's state: ``RpkitState`` per app, and the per-request accessors.

Owns: what ``app.extensions["rpkit"]`` holds (the framework-neutral
:class:`~rpkit.web.flow.WebState`, plus how Flask sets cookies and hands a session to the
browser) and the request's session.
Must not import: the extension or the views (they import it; so the package has no cycle).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, request

from ..identity import CrewIdentity
from ..web import flow
from ..web.flow import WebState
from ..web.sessions import NewSession, ServerSession

__all__ = [
    "BEARER_VIEW_MARK",
    "EXTENSION_KEY",
    "SIGNED_OUT_COOKIE",
    "RpkitState",
    "csrf_token",
    "current_identity",
    "current_session",
    "rpkit_state",
]

EXTENSION_KEY = "rpkit"
SIGNED_OUT_COOKIE = flow.SIGNED_OUT_COOKIE
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
