"""The ``rpkit`` blueprint and the one way its views turn a step's answer into a response.

Owns: the blueprint object (its name and template folder), ``send``, which writes a
:class:`rpkit.web.flow.Outgoing` (page, redirect or HTML with headers) as a Flask response,
and ``signed_in``, the answer of a callback or ACS that signed the browser in.
Must not import: the route modules (:mod:`.views`, :mod:`.views_oidc`, :mod:`.views_saml`)
or the extension; they import it, so the package has no cycle.
"""

from __future__ import annotations

from flask import Blueprint, Response

from ..web import flow
from ._state import RpkitState
from .web import error_response

__all__ = ["bp", "see_other", "send", "signed_in"]

# Templates under rpkit/ (error, chooser pages); an app overrides one by putting
# templates/rpkit/<name>.html in its own template folder, which Flask searches first.
bp = Blueprint("rpkit", __name__, template_folder="../web/templates")


def send(outgoing: flow.Outgoing) -> Response:
    """Write a step's answer: its error page, its redirect, or its HTML, with its headers."""
    if (page := outgoing.page) is not None:
        return error_response(page.status, page.title, page.message, code=page.code, as_json=False)
    if outgoing.location is not None:
        response = Response(status=outgoing.status)
        response.headers["Location"] = outgoing.location
    else:
        response = Response(outgoing.html or "", mimetype="text/html", status=outgoing.status)
    for name, value in outgoing.headers:
        response.headers[name] = value
    return response


def see_other(location: str) -> Response:
    """Redirect with 303 See Other (the browser follows with GET)."""
    return send(flow.Outgoing(location=location))


def signed_in(state: RpkitState, sign_in: flow.SignIn, cookie: str, cookie_path: str) -> Response:
    """Start the new session and go on to ``next``; the browser-binding cookie has served."""
    response = see_other(sign_in.next)
    state.begin_session(response, sign_in.new)
    state.clear_cookie(response, cookie, path=state.path(cookie_path))
    return response
