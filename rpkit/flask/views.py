"""The ``rpkit`` blueprint: login, callback, ACS, metadata, logout and single logout.

Routes (public contract): ``GET /auth/login?next=`` (protocol chooser),
``GET /auth/login/oidc?next=``, ``GET|POST /auth/oidc/callback``,
``POST /auth/oidc/backchannel-logout``, ``GET /auth/oidc/frontchannel-logout?iss=&sid=``,
``GET /auth/login/saml?next=``,
``POST /auth/saml/acs``, ``GET /auth/saml/metadata``, ``GET|POST /auth/saml/slo``,
``POST /auth/logout``.

Owns: the routes that span both protocols (the chooser ``GET /auth/login`` and
``POST /auth/logout``), and the complete blueprint: importing this module registers the
routes of :mod:`.views_oidc` and :mod:`.views_saml` on :data:`bp`.
Must not import: the extension (it imports this module); protocol rules live in the cores
and in :mod:`rpkit.web.flow`, shared with the other frameworks.
"""

from __future__ import annotations

from flask import Response, render_template, request

from ..web import flow
from . import views_oidc, views_saml
from ._state import current_session, rpkit_state
from .views_common import bp, see_other, send
from .web import error_response

__all__ = ["bp"]

# Imported for their routes, which they register on ``bp`` as they load.
_PROTOCOL_VIEWS = (views_oidc, views_saml)


@bp.get("/auth/login")
def login() -> Response:
    """Send the browser to the only protocol, or show one button per protocol."""
    choice = flow.login_choice(rpkit_state(), request.args.get("next"))
    if isinstance(choice, str):
        return see_other(choice)
    if not choice.protocols:
        return error_response(404, "Sign-in is not configured", "No identity provider is set up.")
    html = render_template("rpkit/chooser.html", **choice.context())
    return Response(html, mimetype="text/html")


@bp.post("/auth/logout")
def logout() -> Response:
    """End the session (CSRF token required), then log out at the IdP it came from."""
    state = rpkit_state()
    record = current_session()
    if record is None:
        return see_other(state.path("/"))
    token = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    if not record.check_csrf(token):
        return error_response(
            403,
            "Sign-out refused",
            "The sign-out form was not sent by this app (missing or wrong CSRF token).",
            code="csrf",
        )
    response = send(flow.logout(state, record))
    state.leave(response)
    return response
