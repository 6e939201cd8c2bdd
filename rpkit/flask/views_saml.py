"""The SAML routes of the ``rpkit`` blueprint: login, ACS, SP metadata and single logout.

Owns: ``GET /auth/login/saml``, ``POST /auth/saml/acs``, ``GET /auth/saml/metadata`` and
``GET|POST /auth/saml/slo``: reading the Flask request, running the step of
:mod:`rpkit.web.flow` and carrying the SAML browser-binding cookie.
Must not import: :mod:`.views`, :mod:`.views_oidc` or the extension (protocols stay apart;
the package has no cycle), nor hold protocol rules (they live in the core and the flow).
``rpkit.saml`` is imported inside the views, so an OIDC-only app never loads pysaml2.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Response, request

from ..web import flow
from ._state import RpkitState, current_session, rpkit_state
from .views_common import bp, send, signed_in

__all__: list[str] = []


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
    response = send(start.outgoing)
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
    return signed_in(state, sign_in, BROWSER_COOKIE, "/auth/saml/acs")


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
    response = send(outcome.outgoing)
    if outcome.end_browser_session:
        state.leave(response)
    return response
