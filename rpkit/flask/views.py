"""The ``rpkit`` blueprint: login, callback, ACS, metadata, logout and single logout.

Routes (public contract): ``GET /auth/login?next=`` (protocol chooser),
``GET /auth/login/oidc?next=``, ``GET|POST /auth/oidc/callback``,
``POST /auth/oidc/backchannel-logout``, ``GET /auth/oidc/frontchannel-logout?iss=&sid=``,
``GET /auth/login/saml?next=``,
``POST /auth/saml/acs``, ``GET /auth/saml/metadata``, ``GET|POST /auth/saml/slo``,
``POST /auth/logout``.

Each view reads the request, runs the framework-neutral step of :mod:`rpkit.web.flow`
(the rules live there, shared with the other frameworks) and writes the response.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, render_template, request

from ..errors import RpkitError
from ..web import flow
from ._state import RpkitState, current_session, rpkit_state
from .web import correlation_id, error_response

__all__ = ["bp"]

log = logging.getLogger("rpkit.flask")

# Templates under rpkit/ (error, chooser pages); an app overrides one by putting
# templates/rpkit/<name>.html in its own template folder, which Flask searches first.
bp = Blueprint("rpkit", __name__, template_folder="../web/templates")

OIDC_BROWSER_COOKIE = flow.OIDC_BROWSER_COOKIE


def _send(outgoing: flow.Outgoing) -> Response:
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


def _see_other(location: str) -> Response:
    return _send(flow.Outgoing(location=location))


# -- chooser ---------------------------------------------------------------------------


@bp.get("/auth/login")
def login() -> Response:
    """Send the browser to the only protocol, or show one button per protocol."""
    choice = flow.login_choice(rpkit_state(), request.args.get("next"))
    if isinstance(choice, str):
        return _see_other(choice)
    if not choice.protocols:
        return error_response(404, "Sign-in is not configured", "No identity provider is set up.")
    html = render_template("rpkit/chooser.html", **choice.context())
    return Response(html, mimetype="text/html")


# -- OIDC ------------------------------------------------------------------------------


@bp.get("/auth/login/oidc")
def login_oidc() -> Response:
    """Start an authorization-code login bound to this browser."""
    state = rpkit_state()
    start = flow.start_oidc_login(
        state, request.args.get("next"), request.cookies.get(OIDC_BROWSER_COOKIE)
    )
    response = _send(flow.Outgoing(location=start.location, status=302))
    state.set_cookie(
        response,
        OIDC_BROWSER_COOKIE,
        start.browser,
        path=state.path("/auth/oidc/callback"),
        max_age=start.max_age,
        cross_site_post=start.cross_site_post,
    )
    return response


@bp.route("/auth/oidc/callback", methods=["GET", "POST"])
def oidc_callback() -> Response:
    """Finish the login: the state must be ours, unused, and started in this browser."""
    state = rpkit_state()
    post = request.method == "POST"
    sign_in = flow.finish_oidc_login(
        state,
        {k: v for k, v in (request.form if post else request.args).items()},
        received_via="form_post" if post else "query",
        browser=request.cookies.get(OIDC_BROWSER_COOKIE),
        current=current_session(),
    )
    response = _see_other(sign_in.next)
    state.begin_session(response, sign_in.new)
    state.clear_cookie(response, OIDC_BROWSER_COOKIE, path=state.path("/auth/oidc/callback"))
    return response


@bp.post("/auth/oidc/backchannel-logout")
def oidc_backchannel_logout() -> Response:
    """OIDC Back-Channel Logout 1.0 §2.5: end the sessions the logout token names."""
    try:
        flow.backchannel_logout(rpkit_state(), request.form.get("logout_token"))
    except RpkitError as err:
        status, body = flow.backchannel_refusal(err, correlation_id())
        answer = jsonify(body)
        answer.status_code = status
        answer.headers["Cache-Control"] = "no-store"
        return answer
    answer = Response(status=200)
    answer.headers["Cache-Control"] = "no-store"
    return answer


@bp.get("/auth/oidc/frontchannel-logout")
def oidc_frontchannel_logout() -> Response:
    """OIDC Front-Channel Logout 1.0 §2: end the sessions of the provider session ``sid``
    (no cookies needed; only the provider may frame the page)."""
    return _send(flow.frontchannel_logout(rpkit_state(), request.args))


# -- SAML ------------------------------------------------------------------------------


def _saml_browser_cookie(state: RpkitState, response: Response, cookie: Any) -> None:
    if state.settings.secure_cookies:
        response.headers.add("Set-Cookie", cookie.header_value())
    else:
        # Loopback http (the local demo): browsers drop Secure and SameSite=None cookies
        # over http; the IdP and the app share the loopback site, so Lax is sent.
        state.set_cookie(
            response, cookie.name, cookie.value, path=cookie.path, max_age=cookie.max_age
        )


@bp.get("/auth/login/saml")
def login_saml() -> Response:
    """Send a signed AuthnRequest; the pending request is bound to this browser."""
    from ..saml import BROWSER_COOKIE

    state = rpkit_state()
    start = flow.start_saml_login(
        state, request.args.get("next"), request.cookies.get(BROWSER_COOKIE)
    )
    response = _send(start.outgoing)
    _saml_browser_cookie(state, response, start.cookie)
    return response


@bp.post("/auth/saml/acs")
def saml_acs() -> Response:
    """Validate the IdP's POSTed response (every profile check) and sign the browser in."""
    from ..saml import BROWSER_COOKIE

    state = rpkit_state()
    sign_in = flow.finish_saml_login(
        state,
        request.form,
        browser=request.cookies.get(BROWSER_COOKIE),
        current=current_session(),
    )
    response = _see_other(sign_in.next)
    state.begin_session(response, sign_in.new)
    state.clear_cookie(response, BROWSER_COOKIE, path=state.path("/auth/saml/acs"))
    return response


@bp.get("/auth/saml/metadata")
def saml_metadata() -> Response:
    """This SP's metadata, for registering the app with Dualog."""
    sp = rpkit_state().require_saml()
    return Response(sp.sp_metadata(), mimetype="application/samlmetadata+xml")


@bp.route("/auth/saml/slo", methods=["GET", "POST"])
def saml_slo() -> Response:
    """SAML single logout: the IdP's answer to our LogoutRequest, or its own request."""
    state = rpkit_state()
    binding: Literal["redirect", "post"] = "redirect" if request.method == "GET" else "post"
    outcome = flow.saml_single_logout(
        state,
        binding=binding,
        query_string=request.query_string.decode("ascii", "replace")
        if binding == "redirect"
        else None,
        values=request.values,
        form=request.form,
        current=current_session(),
    )
    response = _send(outcome.outgoing)
    if outcome.end_browser_session:
        state.leave(response)
    return response


# -- logout ----------------------------------------------------------------------------


@bp.post("/auth/logout")
def logout() -> Response:
    """End the session (CSRF token required), then log out at the IdP it came from."""
    state = rpkit_state()
    record = current_session()
    if record is None:
        return _see_other(state.path("/"))
    token = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    if not record.check_csrf(token):
        return error_response(
            403,
            "Sign-out refused",
            "The sign-out form was not sent by this app (missing or wrong CSRF token).",
            code="csrf",
        )
    response = _send(flow.logout(state, record))
    state.leave(response)
    return response
