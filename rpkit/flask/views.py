"""The ``rpkit`` blueprint: login, callback, ACS, metadata, logout and single logout.

Routes (public contract): ``GET /auth/login?next=`` (protocol chooser),
``GET /auth/login/oidc?next=``, ``GET|POST /auth/oidc/callback``,
``POST /auth/oidc/backchannel-logout``, ``GET /auth/oidc/frontchannel-logout?iss=&sid=``,
``GET /auth/login/saml?next=``,
``POST /auth/saml/acs``, ``GET /auth/saml/metadata``, ``GET|POST /auth/saml/slo``,
``POST /auth/logout``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from flask import Blueprint, Response, jsonify, render_template, request

from ..errors import (
    CallbackError,
    MetadataError,
    ProviderError,
    RpkitError,
    SamlResponseError,
    StoreUnavailableError,
    TokenError,
)
from ..identity import CrewIdentity
from ..store import Batch
from ..web.sessions import NewSession, ServerSession, sid_index, sub_index
from .extension import RpkitState, current_session, rpkit_state
from .web import correlation_id, error_response, safe_next

__all__ = ["bp"]

log = logging.getLogger("rpkit.flask")

# Templates under rpkit/ (error, chooser, signed-out pages); an app overrides one by putting
# templates/rpkit/<name>.html in its own template folder, which Flask searches first.
bp = Blueprint("rpkit", __name__, template_folder="../web/templates")

OIDC_BROWSER_COOKIE = "rpkit_oidc"
_PENDING_OIDC = "flask:oidc:"
_PENDING_TTL = timedelta(minutes=15)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _redirect(location: str, code: int = 302) -> Response:
    response = Response(status=code)
    response.headers["Location"] = location
    return response


def _see_other(location: str) -> Response:
    return _redirect(location, 303)


def _path(state: RpkitState, path: str) -> str:
    return state.settings.path_prefix + path


# -- chooser ---------------------------------------------------------------------------


@bp.get("/auth/login")
def login() -> Response:
    """Send the browser to the only protocol, or show one button per protocol."""
    state = rpkit_state()
    target = safe_next(request.args.get("next"))
    protocols = state.protocols
    if len(protocols) == 1:
        return _see_other(_path(state, f"/auth/login/{protocols[0]}?next={quote(target)}"))
    if not protocols:
        return error_response(404, "Sign-in is not configured", "No identity provider is set up.")
    labels = {"oidc": "Sign in with Dualog (OIDC)", "saml": "Sign in with Dualog (SAML)"}
    login_urls = {p: _path(state, f"/auth/login/{p}?next={quote(target)}") for p in protocols}
    html = render_template(
        "rpkit/chooser.html", protocols=protocols, login_urls=login_urls, labels=labels
    )
    return Response(html, mimetype="text/html")


# -- OIDC ------------------------------------------------------------------------------


@bp.get("/auth/login/oidc")
def login_oidc() -> Response:
    """Start an authorization-code login bound to this browser."""
    state = rpkit_state()
    client = state.require_oidc()
    target = safe_next(request.args.get("next"))
    url, login_state = client.start_login(redirect_uri=state.settings.url("/auth/oidc/callback"))
    browser = request.cookies.get(OIDC_BROWSER_COOKIE) or ""
    if not _TOKEN.match(browser):
        browser = secrets.token_urlsafe(32)
    pending = {"next": target, "browser": _digest(browser)}
    state.settings.store.set(
        _PENDING_OIDC + _digest(login_state.state), json.dumps(pending).encode(), _PENDING_TTL
    )
    response = _redirect(url)
    state.set_cookie(
        response,
        OIDC_BROWSER_COOKIE,
        browser,
        path=_path(state, "/auth/oidc/callback"),
        max_age=int(_PENDING_TTL.total_seconds()),
        cross_site_post=login_state.response_mode == "form_post",
    )
    return response


@bp.route("/auth/oidc/callback", methods=["GET", "POST"])
def oidc_callback() -> Response:
    """Finish the login: the state must be ours, unused, and started in this browser."""
    state = rpkit_state()
    client = state.require_oidc()
    params = {k: v for k, v in (request.form if request.method == "POST" else request.args).items()}
    raw_state = params.get("state")
    if not raw_state:
        raise CallbackError("state_missing", 'the callback has no "state"')
    stored = state.settings.store.pop(_PENDING_OIDC + _digest(raw_state))
    if stored is None:
        raise CallbackError("state_unknown", "the login is unknown, expired or already completed")
    pending = json.loads(stored)
    browser = request.cookies.get(OIDC_BROWSER_COOKIE)
    if not browser or not hmac.compare_digest(_digest(browser), str(pending["browser"])):
        # Burn the login: a callback that leaked to another browser must not be retried.
        try:
            client.take_login_state(raw_state)
        except CallbackError:
            pass
        raise CallbackError("browser_binding", "the login was started in another browser")
    result = client.finish_login(
        params, received_via="form_post" if request.method == "POST" else "query"
    )
    data: dict[str, Any] = {"id_token": result.tokens.id_token}
    sid = result.id_token.claims.get("sid")
    if isinstance(sid, str) and sid:
        data["sid"] = sid
    response = _see_other(safe_next(pending.get("next")))
    state.start_session(response, result.identity, data)
    state.clear_cookie(response, OIDC_BROWSER_COOKIE, path=_path(state, "/auth/oidc/callback"))
    log.info("rpkit: OIDC sign-in of %s", result.identity.subject)
    return response


@bp.post("/auth/oidc/backchannel-logout")
def oidc_backchannel_logout() -> Response:
    """OIDC Back-Channel Logout 1.0 §2.5: end the sessions the logout token names."""
    state = rpkit_state()
    client = state.require_oidc()
    token = request.form.get("logout_token")
    try:
        if not token:
            raise TokenError("malformed", 'the request has no "logout_token"')
        logout = client.validate_logout_token(token)
    except RpkitError as err:
        log.warning(
            "rpkit: back-channel logout refused (%s) correlation_id=%s", err.code, correlation_id()
        )
        answer = jsonify({"error": "invalid_request", "correlation_id": correlation_id()})
        unavailable = isinstance(err, ProviderError | StoreUnavailableError)
        answer.status_code = 503 if unavailable else 400
        answer.headers["Cache-Control"] = "no-store"
        return answer
    ended = 0
    if logout.session_id:
        ended += state.sessions.end_by_index(*sid_index(logout.issuer, logout.session_id))
    if logout.subject and not ended:
        # No session filed under that sid (the ID token carried none): end the user's
        # sessions at this issuer; logging out too much is the safe direction.
        ended += state.sessions.end_by_index(*sub_index("oidc", logout.issuer, logout.subject))
    log.info("rpkit: back-channel logout ended %d session(s)", ended)
    answer = Response(status=200)
    answer.headers["Cache-Control"] = "no-store"
    return answer


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


def _send_saml(message: Any) -> Response:
    if message.binding == "redirect" and message.url:
        return _redirect(message.url)
    return Response(message.form_html(), mimetype="text/html")


@bp.get("/auth/login/saml")
def login_saml() -> Response:
    """Send a signed AuthnRequest; the pending request is bound to this browser."""
    from ..saml import BROWSER_COOKIE

    state = rpkit_state()
    sp = state.require_saml()
    target = safe_next(request.args.get("next"))
    login_request = sp.start_login(
        return_to=target, browser_token=request.cookies.get(BROWSER_COOKIE)
    )
    response = _send_saml(login_request.message)
    _saml_browser_cookie(state, response, login_request.cookie)
    return response


@bp.post("/auth/saml/acs")
def saml_acs() -> Response:
    """Validate the IdP's POSTed response (every profile check) and sign the browser in."""
    from ..saml import BROWSER_COOKIE, SamlSession

    state = rpkit_state()
    sp = state.require_saml()
    saml_response = request.form.get("SAMLResponse")
    if not saml_response:
        raise SamlResponseError("malformed", "the request has no SAMLResponse")
    prepared: list[NewSession] = []

    def session_writes(identity: CrewIdentity) -> Batch:
        # Committed with the replay-cache entry in one batch (one Redis round trip).
        data = {"saml_session": SamlSession.from_identity(identity).to_dict()}
        prepared.append(state.prepare_session(identity, data))
        return prepared[-1].batch

    identity, return_to = sp.complete_login(
        saml_response,
        request.form.get("RelayState"),
        browser_token=request.cookies.get(BROWSER_COOKIE),
        writes=session_writes,
    )
    response = _see_other(safe_next(return_to))
    state.begin_session(response, prepared[-1])
    state.clear_cookie(response, BROWSER_COOKIE, path=_path(state, "/auth/saml/acs"))
    log.info("rpkit: SAML sign-in of %s", identity.subject)
    return response


@bp.get("/auth/saml/metadata")
def saml_metadata() -> Response:
    """This SP's metadata, for registering the app with Dualog."""
    sp = rpkit_state().require_saml()
    return Response(sp.sp_metadata(), mimetype="application/samlmetadata+xml")


@bp.route("/auth/saml/slo", methods=["GET", "POST"])
def saml_slo() -> Response:
    """SAML single logout: the IdP's answer to our LogoutRequest, or its own request."""
    from ..saml import SamlSession

    state = rpkit_state()
    sp = state.require_saml()
    binding: Literal["redirect", "post"] = "redirect" if request.method == "GET" else "post"
    query = request.query_string.decode("ascii", "replace") if binding == "redirect" else None
    if "SAMLResponse" in request.values:
        pending = sp.process_logout_response(
            binding=binding,
            query_string=query,
            saml_response=request.form.get("SAMLResponse"),
            relay_state=request.form.get("RelayState"),
        )
        return _see_other(safe_next(pending.return_to))
    if "SAMLRequest" not in request.values:
        raise SamlResponseError("malformed", "the request has no SAMLRequest or SAMLResponse")
    candidates = _saml_sessions_for_logout(state, binding)
    if not candidates:
        raise SamlResponseError("session", "no SAML session here matches the LogoutRequest")
    last_error: RpkitError | None = None
    for record in candidates:
        try:
            result = sp.process_logout_request(
                binding=binding,
                session=SamlSession(**record.protocol_data["saml_session"]),
                query_string=query,
                saml_request=request.form.get("SAMLRequest"),
                relay_state=request.form.get("RelayState"),
            )
        except SamlResponseError as err:
            if err.reason not in ("name_id", "session_index", "session"):
                raise
            last_error = err
            continue
        response = _send_saml(result.message)
        state.sessions.end(record)
        if result.all_sessions:
            # Verified NameID, no SessionIndex: the principal's every session ends, in one
            # atomic step, including sessions that logged in while we validated.
            index = sub_index("saml", record.identity.issuer, record.identity.subject)
            state.sessions.end_by_index(*index)
        mine = current_session()
        if mine is not None and (
            mine.key == record.key
            or (
                result.all_sessions
                and mine.protocol == "saml"
                and (mine.identity.issuer, mine.identity.subject)
                == (record.identity.issuer, record.identity.subject)
            )
        ):
            state.end_session(response, mine)
        return response
    assert last_error is not None
    raise last_error


def _saml_sessions_for_logout(
    state: RpkitState, binding: Literal["redirect", "post"]
) -> list[ServerSession]:
    """This browser's SAML session, else the sessions filed under the request's NameID."""
    from ..web._saml_hint import logout_request_name_id

    record = current_session()
    if record is not None and record.protocol == "saml":
        return [record]
    value = request.values.get("SAMLRequest", "")
    name_id = logout_request_name_id(value, deflated=binding == "redirect")
    if not name_id or state.saml is None:
        return []
    # The metadata's entity ID: the configured one, or the one read from the metadata.
    issuer = state.saml.idp().entity_id
    return state.sessions.find_by_index(*sub_index("saml", issuer, name_id))[:20]


# -- logout ----------------------------------------------------------------------------


@bp.post("/auth/logout")
def logout() -> Response:
    """End the session (CSRF token required), then log out at the IdP it came from."""
    state = rpkit_state()
    record = current_session()
    if record is None:
        return _see_other(_path(state, "/"))
    token = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    if not record.check_csrf(token):
        return error_response(
            403,
            "Sign-out refused",
            "The sign-out form was not sent by this app (missing or wrong CSRF token).",
            code="csrf",
        )
    home = _path(state, "/")
    if record.protocol == "oidc":
        response = _logout_oidc(state, record, home)
    else:
        response = _logout_saml(state, record, home)
    state.end_session(response, record)
    return response


def _logout_oidc(state: RpkitState, record: ServerSession, home: str) -> Response:
    client = state.require_oidc()
    id_token = record.protocol_data.get("id_token")
    if not id_token:
        # IdentityServer follows post_logout_redirect_uri only with an id_token_hint
        # (expired or not): without one the user would be stranded at Dualog's page.
        log.warning("rpkit: OIDC logout is local only (the session kept no ID token)")
        return _logged_out_locally(
            "This session kept no ID token to show Dualog, so your Dualog sign-in may "
            "still be active. Sign out at Dualog too on a shared computer."
        )
    try:
        url = client.end_session_url(
            id_token_hint=id_token,
            post_logout_redirect_uri=client.config.post_logout_redirect_uri
            or state.settings.url("/"),
        )
    except (MetadataError, ProviderError) as err:
        log.warning("rpkit: OIDC logout is local only (%s)", err.code)
        return _logged_out_locally(
            "Dualog could not be reached to end your sign-in there; it may still be active."
        )
    return _see_other(url)


def _logged_out_locally(message: str) -> Response:
    return error_response(
        200, "Signed out of this app", message, code="logged_out_locally", as_json=False
    )


@bp.get("/auth/oidc/frontchannel-logout")
def oidc_frontchannel_logout() -> Response:
    """OIDC Front-Channel Logout 1.0 §2: end the sessions of the provider session ``sid``.

    Loaded by the provider in a hidden iframe, usually without this app's cookies, so the
    session is found by ``(iss, sid)`` alone; ``iss`` must be the configured issuer.
    """
    state = rpkit_state()
    client = state.require_oidc()
    sid = client.validate_frontchannel_logout(request.args)
    ended = state.sessions.end_by_index(*sid_index(client.config.issuer, sid))
    log.info("rpkit: front-channel logout ended %d session(s)", ended)
    response = Response(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Signed out</title>"
        "</head><body>Signed out.</body></html>",
        mimetype="text/html",
    )
    response.headers["Cache-Control"] = "no-store"
    # Only the provider may frame this page (it renders it in an iframe).
    issuer = urlsplit(client.config.issuer)
    response.headers["Content-Security-Policy"] = (
        f"frame-ancestors {issuer.scheme}://{issuer.netloc}"
    )
    return response


def _logout_saml(state: RpkitState, record: ServerSession, home: str) -> Response:
    from ..saml import SamlSession

    sp = state.require_saml()
    try:
        session = SamlSession(**record.protocol_data["saml_session"])
        outgoing = sp.start_logout(session, return_to=home)
    except (ProviderError, KeyError, TypeError) as err:
        log.warning("rpkit: SAML logout is local only (%s)", type(err).__name__)
        return _see_other(home)
    if outgoing.message is None:
        return _see_other(home)
    return _send_saml(outgoing.message)
