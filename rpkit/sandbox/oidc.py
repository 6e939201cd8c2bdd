"""The OIDC endpoints on Dualog's paths: discovery, JWKS, authorize (login page), token,
userinfo and end session."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Response, abort, current_app, g, jsonify, request

from .claims import oidc_claims
from .config import GRANT_TYPES, OIDC_SCOPES, SCIM_SCOPES
from .controls import apply_overrides
from .models import CrewMember, SignInRefusedError, check_sign_in, verify_password
from .oidc_server import SESSION_COOKIE
from .pages import render_autopost, render_login, render_message, render_signed_out
from .state import IdpSession, SandboxState
from .tokens import InvalidAccessTokenError, token_scopes

__all__ = ["SESSION_COOKIE", "bp", "current_member", "ensure_session", "sandbox", "start_session"]

bp = Blueprint("oidc", __name__)


def sandbox() -> SandboxState:
    """The state of the sandbox serving this request."""
    state: SandboxState = current_app.extensions["rpkit_sandbox"]
    return state


def _server() -> Any:
    return current_app.extensions["rpkit_sandbox_oauth"]


def current_member() -> CrewMember | None:
    """The crew member signed in at the sandbox in this browser, if any and still allowed."""
    state = sandbox()
    sid = request.cookies.get(SESSION_COOKIE)
    with state.lock:
        session = state.sessions.get(sid or "")
    if session is None:
        return None
    member = state.store.get_user(session.user_id)
    if member is None:
        return None
    try:
        check_sign_in(member, state.clock.today())
    except SignInRefusedError:
        return None
    return member


def ensure_session(member: CrewMember) -> tuple[str, IdpSession]:
    """This browser's session for ``member``, or a new one; return its cookie value and record.

    The record is also kept on ``flask.g`` so the authorization code issued in this request
    carries the session's ``sid`` (and the client is remembered for back-channel logout).
    """
    state = sandbox()
    cookie = request.cookies.get(SESSION_COOKIE)
    with state.lock:
        existing = state.sessions.get(cookie or "")
    if existing is not None and existing.user_id == member.id and cookie:
        session = existing
    else:
        cookie, session = state.new_session(member.id)
    g.rpkit_idp_session = session
    return cookie, session


def _set_session_cookie(response: Response, cookie: str) -> None:
    if cookie != request.cookies.get(SESSION_COOKIE):
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="Lax", path="/")


def start_session(response: Response, member: CrewMember) -> str:
    """Sign ``member`` in at the sandbox: record a session and set its cookie."""
    cookie, _ = ensure_session(member)
    _set_session_cookie(response, cookie)
    return cookie


def authenticate_form(state: SandboxState) -> tuple[CrewMember | None, str | None]:
    """Resolve the login form (a crew card or email and password) to a member or a message."""
    card = request.form.get("card")
    if card:
        member = state.store.find_user(card)
        if member is None:
            return None, "That crew member no longer exists."
    else:
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        member = state.store.find_user(username) if username else None
        if member is None or not verify_password(password, member.password_hash):
            return None, "Unknown email address or wrong password."
    try:
        check_sign_in(member, state.clock.today())
    except SignInRefusedError as err:
        return None, err.message
    return member, None


def _public_url(state: SandboxState, name: str) -> str:
    """This request's URL rebuilt on the public base URL (correct behind a proxy)."""
    query = request.query_string.decode("latin-1")
    url = state.urls.as_dict()[name]
    return f"{url}?{query}" if query else url


def login_page(
    state: SandboxState,
    app_name: str,
    *,
    error: str | None,
    status: int,
    action: str | None = None,
    hidden: dict[str, str] | None = None,
) -> Response:
    """Render the login page, posting to ``action`` (default: the authorize endpoint)."""
    html = render_login(
        app_name=app_name,
        action=action or _public_url(state, "authorize"),
        hidden=hidden or {},
        crew=state.store.list_users(),
        today=state.clock.today(),
        error=error,
        username=request.form.get("username", ""),
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/auth/.well-known/openid-configuration")
def discovery() -> Response:
    """OIDC Discovery 1.0 §3 metadata, with Dualog's endpoint paths."""
    state = sandbox()
    urls = state.urls.as_dict()
    # Duende lists only the endpoints it serves (Endpoints.EnableUserInfoEndpoint).
    userinfo = (
        {"userinfo_endpoint": urls["userinfo"]} if state.config.enable_userinfo_endpoint else {}
    )
    return jsonify(
        issuer=urls["issuer"],
        authorization_endpoint=urls["authorize"],
        token_endpoint=urls["token"],
        **userinfo,
        jwks_uri=urls["jwks"],
        end_session_endpoint=urls["endsession"],
        scopes_supported=[*OIDC_SCOPES, *SCIM_SCOPES],
        response_types_supported=["code"],
        response_modes_supported=["query", "form_post"],
        grant_types_supported=list(GRANT_TYPES),
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["RS256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        code_challenge_methods_supported=["plain", "S256"],
        authorization_response_iss_parameter_supported=True,
        claims_supported=[
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "auth_time",
            "nonce",
            "sid",
            "idp",
            "amr",
            "at_hash",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "email",
            "email_verified",
            "rank",
            "department",
            "ship_name",
            "ship_imo",
        ],
        request_parameter_supported=False,
        frontchannel_logout_supported=True,
        frontchannel_logout_session_supported=True,
        backchannel_logout_supported=True,
        backchannel_logout_session_supported=True,
    )


@bp.get("/auth/.well-known/openid-configuration/jwks")
def jwks() -> Response:
    """The published signing keys (RFC 7517 §5)."""
    response = jsonify(sandbox().keys.public_jwks())
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.route("/auth/connect/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    """Authorization endpoint (OIDC Core 1.0 §3.1.2): login page, then code or error."""
    state = sandbox()
    server = _server()
    response_mode = request.values.get("response_mode", "query")
    if response_mode not in ("query", "form_post"):
        return Response(
            render_message("Unsupported response_mode", "Use query or form_post."), status=400
        )
    try:
        grant = server.get_consent_grant(end_user=current_member())
    except OAuth2Error as error:
        # Duende sends only "safe" errors back to the client; every validation error
        # (unknown client, unregistered redirect_uri, refused scope, missing PKCE) is
        # shown on its own error page, and the app never hears back.
        if error.error in _SAFE_ERRORS and getattr(error, "redirect_uri", None):
            return _as_form_post(
                _with_iss(server.handle_error_response(None, error)), response_mode
            )
        return _error_page(error)
    except ValueError:
        # Authlib refuses to build an error whose description would echo control
        # characters from the request (e.g. a garbage response_type): still bad input.
        return Response(
            render_message("Bad authorization request", "The request parameters are malformed."),
            status=400,
            mimetype="text/html",
        )
    app_name = grant.client.config.name or grant.client.client_id
    if request.method == "GET":
        if request.args.get("prompt") == "none" and grant.request.user is not None:
            return _finish(server, grant, grant.request.user, response_mode)
        return login_page(state, app_name, error=None, status=200)
    if request.form.get("deny"):
        response = server.create_authorization_response(grant_user=None, grant=grant)
        return _as_form_post(_with_iss(response), response_mode)
    member, message = authenticate_form(state)
    if member is None:
        return login_page(state, app_name, error=message, status=403)
    return _finish(server, grant, member, response_mode)


def _finish(server: Any, grant: Any, member: CrewMember, response_mode: str) -> Response:
    # The session exists before the code is issued, so the code carries its sid.
    cookie, _ = ensure_session(member)
    response = _as_form_post(
        _with_iss(server.create_authorization_response(grant_user=member, grant=grant)),
        response_mode,
    )
    _set_session_cookie(response, cookie)
    return response


# Duende's "safe" errors: the only ones sent back to the client's redirect URI.
_SAFE_ERRORS = frozenset(
    {
        "access_denied",
        "login_required",
        "consent_required",
        "interaction_required",
        "account_selection_required",
        "temporarily_unavailable",
        "unmet_authentication_requirements",
    }
)

# What the sandbox's error page tells the developer to change, per OAuth error.
_FIXES = {
    "invalid_client": "The client_id is not registered: start the sandbox with "
    '"--client ID:SECRET --redirect-uri URL" (or add it to "clients" in --config), or use a '
    "registered client_id.",
    "invalid_scope": "",
    "unauthorized_client": "The client may not use this grant or response type: check its "
    '"grant_types".',
    "unsupported_response_type": "Use response_type=code.",
}


def _error_page(error: OAuth2Error) -> Response:
    """IdentityServer's error page for an authorization error it must not redirect."""
    description = error.description or error.error
    if error.error == "invalid_request" and "redirect" in description.lower():
        fix = (
            "The redirect_uri is not registered for this client: register it with "
            '"rpkit sandbox --client ID:SECRET --redirect-uri URL" (or in the client\'s '
            '"redirect_uris" in --config). At Dualog: the sign-in redirect URI of the '
            "integration."
        )
    else:
        fix = _FIXES.get(error.error, "")
    message = f"{error.error}: {description}" + (f" {fix}" if fix else "")
    return Response(
        render_message("Sign-in error", message, testid="error", reason=error.error),
        status=400,
        mimetype="text/html",
    )


def _with_iss(response: Response) -> Response:
    """Add RFC 9207 ``iss`` to an authorization response redirect (success or error)."""
    location = response.headers.get("Location")
    if response.status_code == 302 and location:
        response.headers["Location"] = add_params_to_uri(location, [("iss", sandbox().issuer)])
    return response


def _as_form_post(response: Response, response_mode: str) -> Response:
    """Turn a redirect into an auto-posting form (OAuth 2.0 Form Post Response Mode)."""
    location = response.headers.get("Location")
    if response_mode != "form_post" or response.status_code != 302 or not location:
        return response
    parts = urlsplit(location)
    target = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    fields = dict(parse_qsl(parts.query, keep_blank_values=True))
    return Response(render_autopost(target, fields), status=200, mimetype="text/html")


@bp.post("/auth/connect/token")
def token() -> Response:
    """Token endpoint: authorization_code, refresh_token, client_credentials, password."""
    response: Response = _server().create_token_response()
    return response


def _bearer_error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = (
        f'Bearer error="{error}", error_description="{description}"'
    )
    return response


@bp.route("/auth/connect/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    """UserInfo endpoint (OIDC Core 1.0 §5.3) for access tokens with ``openid``."""
    state = sandbox()
    if not state.config.enable_userinfo_endpoint:
        abort(404)
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not token:
        return _bearer_error(401, "invalid_token", "A bearer access token is required")
    try:
        claims = state.tokens.validate_access_token(token)
    except InvalidAccessTokenError as err:
        return _bearer_error(401, "invalid_token", str(err))
    scopes = token_scopes(claims)
    if "openid" not in scopes or "sub" not in claims:
        return _bearer_error(403, "insufficient_scope", "The token lacks the openid scope")
    member = state.store.get_user(str(claims.get("sub")))
    if member is None:
        return _bearer_error(401, "invalid_token", "The user no longer exists")
    data = apply_overrides(oidc_claims(member, scopes), state.controls.take_next_claims("userinfo"))
    return jsonify(data)


@bp.route("/auth/connect/endsession", methods=["GET", "POST"])
def endsession() -> Response:
    """End the sandbox session; redirect to a registered post_logout_redirect_uri."""
    server = _server()
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return Response(
            render_message("Sign-out failed", error.description or error.error, testid="error"),
            status=400,
            mimetype="text/html",
        )
    response: Response | None = server.create_endpoint_response("end_session", validated)
    frames = _frontchannel_urls(g.get("rpkit_ended_sessions") or [])
    if response is None or frames:
        # Duende's logged-out page: front-channel iframes, then back to the app when a
        # valid id_token_hint allowed post_logout_redirect_uri.
        return_to = response.headers.get("Location") if response is not None else None
        response = Response(render_signed_out(frames, return_to), mimetype="text/html")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _frontchannel_urls(sessions: list[IdpSession]) -> list[str]:
    """Front-Channel Logout 1.0 §2: each client's URI with ``iss`` and ``sid``."""
    state = sandbox()
    urls = []
    for session in sessions:
        for client_id in session.oidc_clients:
            client = state.clients.get(client_id)
            uri = client.frontchannel_logout_uri if client is not None else None
            if uri:
                query = urlencode({"iss": state.issuer, "sid": session.sid})
                urls.append(uri + ("&" if "?" in uri else "?") + query)
    return urls
