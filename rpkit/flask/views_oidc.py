"""The OIDC routes of the ``rpkit`` blueprint: login, callback, back- and front-channel logout.

Owns: ``GET /auth/login/oidc``, ``GET|POST /auth/oidc/callback``,
``POST /auth/oidc/backchannel-logout`` and ``GET /auth/oidc/frontchannel-logout``: reading
the Flask request, running the step of :mod:`rpkit.web.flow` and carrying the OIDC
browser-binding cookie.
Must not import: :mod:`.views`, :mod:`.views_saml` or the extension (protocols stay apart;
the package has no cycle), nor hold protocol rules (they live in the core and the flow).
"""

from __future__ import annotations

from flask import Response, jsonify, request

from ..errors import RpkitError
from ..web import flow
from ._state import current_session, rpkit_state
from .views_common import bp, send, signed_in
from .web import correlation_id

__all__ = ["OIDC_BROWSER_COOKIE"]

OIDC_BROWSER_COOKIE = flow.OIDC_BROWSER_COOKIE


@bp.get("/auth/login/oidc")
def login_oidc() -> Response:
    """Start an authorization-code login bound to this browser."""
    state = rpkit_state()
    start = flow.start_oidc_login(
        state, request.args.get("next"), request.cookies.get(OIDC_BROWSER_COOKIE)
    )
    response = send(flow.Outgoing(location=start.location, status=302))
    start.hand_off(state, response)
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
    return signed_in(state, sign_in, OIDC_BROWSER_COOKIE, flow.OIDC_CALLBACK_PATH)


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
    return send(flow.frontchannel_logout(rpkit_state(), request.args))
