"""The SAML IdP endpoints: metadata, SSO (Redirect and POST), SP- and IdP-initiated logout."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from flask import Blueprint, Response, request

from .claims import SAML_ATTRIBUTES, saml_attributes
from .models import CrewMember
from .oidc import SESSION_COOKIE, authenticate_form, current_member, sandbox, start_session
from .pages import render_autopost, render_login, render_message
from .saml_sp import (
    BINDING_POST,
    BINDING_REDIRECT,
    RegisteredSP,
    SamlEndpoint,
    SamlMetadataError,
)
from .saml_xml import (
    NAME_ID_FORMATS,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    Assertion,
    SamlRequest,
    build_logout_request,
    build_logout_response,
    build_metadata,
    build_response,
    decode_message,
    read_request,
    redirect_query,
)
from .state import SandboxState

__all__ = ["bp"]

bp = Blueprint("saml", __name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Pending:
    request_id: str | None
    sp: RegisteredSP
    acs: SamlEndpoint
    relay_state: str | None
    name_id_format: str


def _page(title: str, message: str, status: int, testid: str = "error") -> Response:
    return Response(
        render_message(title, message, testid=testid), status=status, mimetype="text/html"
    )


def _find_sp(state: SandboxState, entity_id: str | None) -> RegisteredSP | None:
    with state.lock:
        return state.service_providers.get(entity_id or "")


@bp.get("/auth/saml/metadata")
def metadata() -> Response:
    """IdP metadata; entity ID ``<base>/auth`` as on Dualog."""
    state = sandbox()
    urls = state.urls.as_dict()
    xml = build_metadata(
        entity_id=state.issuer,
        sso_url=urls["saml_sso"],
        slo_url=urls["saml_slo"],
        keys=state.saml_keys,
    )
    return Response(xml, mimetype="application/samlmetadata+xml")


def _incoming(param: str) -> tuple[SamlRequest, str | None]:
    binding = BINDING_POST if request.method == "POST" else BINDING_REDIRECT
    value = request.values.get(param)
    if not value:
        raise SamlMetadataError(f"the request has no {param}")
    return read_request(decode_message(value, binding)), request.values.get("RelayState")


@bp.route("/auth/saml/sso", methods=["GET", "POST"])
def sso() -> Response:
    """Receive an AuthnRequest (HTTP-Redirect or HTTP-POST) and show the login page."""
    state = sandbox()
    try:
        authn, relay_state = _incoming("SAMLRequest")
    except SamlMetadataError as err:
        return _page("Bad SAML request", str(err), 400)
    if authn.kind != "AuthnRequest":
        return _page("Bad SAML request", "Send logout messages to the SLO endpoint.", 400)
    if authn.destination and authn.destination != state.urls.as_dict()["saml_sso"]:
        return _page("Bad SAML request", "The AuthnRequest Destination is not this IdP.", 400)
    sp = _find_sp(state, authn.issuer)
    if sp is None:
        if not state.config.allow_any_sp or not authn.issuer or not authn.acs_url:
            return _page(
                "Unknown service provider",
                f"{authn.issuer or 'The sender'} is not registered with this IdP.",
                403,
            )
        sp = RegisteredSP(entity_id=authn.issuer, acs=(SamlEndpoint(authn.acs_url, BINDING_POST),))
    acs = sp.acs_for(authn.acs_url)
    if acs is None:
        return _page(
            "Unregistered ACS URL",
            "The AssertionConsumerServiceURL is not registered for this SP.",
            403,
        )
    fmt = authn.name_id_format or sp.name_id_format
    pending = _Pending(
        request_id=authn.id, sp=sp, acs=acs, relay_state=relay_state, name_id_format=fmt
    )
    if fmt not in NAME_ID_FORMATS.values():
        return _error_response(
            state,
            pending,
            STATUS_REQUESTER,
            "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy",
        )
    member = current_member()
    if authn.is_passive:
        if member is None:
            return _error_response(
                state, pending, STATUS_RESPONDER, "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
            )
        return _complete(state, pending, member)
    key = secrets.token_urlsafe(18)
    with state.lock:
        state.pending_saml[key] = pending
    return _login(state, key, sp, error=None, status=200)


def _login(
    state: SandboxState, key: str, sp: RegisteredSP, *, error: str | None, status: int
) -> Response:
    html = render_login(
        app_name=sp.entity_id,
        action=state.issuer + "/saml/sso/login",
        hidden={"pending": key},
        crew=state.store.list_users(),
        today=state.clock.today(),
        error=error,
        username=request.form.get("username", ""),
    )
    return Response(html, status=status, mimetype="text/html")


@bp.post("/auth/saml/sso/login")
def sso_login() -> Response:
    """The login page's answer for a pending AuthnRequest."""
    state = sandbox()
    key = request.form.get("pending", "")
    with state.lock:
        pending = state.pending_saml.get(key)
    if not isinstance(pending, _Pending):
        return _page("Sign-in expired", "Start the sign-in again from the application.", 400)
    if request.form.get("deny"):
        with state.lock:
            state.pending_saml.pop(key, None)
        return _error_response(
            state, pending, STATUS_RESPONDER, "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
        )
    member, error = authenticate_form(state)
    if member is None:
        return _login(state, key, pending.sp, error=error, status=403)
    with state.lock:
        state.pending_saml.pop(key, None)
    return _complete(state, pending, member)


def _name_id(member: CrewMember, fmt: str, sp: RegisteredSP) -> str:
    if fmt == NAME_ID_FORMATS["persistent"]:
        # Pairwise and stable: the same user gets a different persistent ID at each SP.
        return hashlib.sha256(f"{member.id}|{sp.entity_id}".encode()).hexdigest()[:32]
    if fmt == NAME_ID_FORMATS["transient"]:
        return f"_t{secrets.token_hex(16)}"
    return member.email


def _post(acs: SamlEndpoint, param: str, xml: bytes, relay_state: str | None) -> Response:
    fields = {param: base64.b64encode(xml).decode()}
    if relay_state:
        fields["RelayState"] = relay_state
    return Response(render_autopost(acs.url, fields), mimetype="text/html")


def _complete(state: SandboxState, pending: _Pending, member: CrewMember) -> Response:
    response = Response()
    sid = start_session(response, member)
    with state.lock:
        session = state.sessions[sid] if sid in state.sessions else None
    session_index = session.session_index if session else f"_s{secrets.token_hex(16)}"
    name_id = _name_id(member, pending.name_id_format, pending.sp)
    if session is not None:
        with state.lock:
            session.saml_sps[pending.sp.entity_id] = f"{pending.name_id_format} {name_id}"
    xml = build_response(
        issuer=state.issuer,
        destination=pending.acs.url,
        in_response_to=pending.request_id,
        now=state.clock.now(),
        keys=state.saml_keys,
        assertion=Assertion(
            audience=pending.sp.entity_id,
            name_id=name_id,
            name_id_format=pending.name_id_format,
            session_index=session_index,
            attributes=saml_attributes(member),
            attribute_aliases=SAML_ATTRIBUTES,
        ),
    )
    posted = _post(pending.acs, "SAMLResponse", xml, pending.relay_state)
    for header, value in response.headers.items():
        if header.lower() == "set-cookie":
            posted.headers.add(header, value)
    return posted


def _error_response(
    state: SandboxState, pending: _Pending, status: str, sub_status: str
) -> Response:
    xml = build_response(
        issuer=state.issuer,
        destination=pending.acs.url,
        in_response_to=pending.request_id,
        now=state.clock.now(),
        keys=state.saml_keys,
        assertion=None,
        status=status,
        sub_status=sub_status,
    )
    return _post(pending.acs, "SAMLResponse", xml, pending.relay_state)


def _end_session(state: SandboxState) -> tuple[str | None, dict[str, str]]:
    cookie = request.cookies.get(SESSION_COOKIE)
    ended = state.end_sessions(cookie=cookie) if cookie else []
    if not ended:
        return None, {}
    session = ended[0]
    # OIDC clients the same browser session signed in to learn of it over the back channel.
    state.notify_logout(session)
    return session.session_index, dict(session.saml_sps)


def _signed_out(extra: Response | None = None) -> Response:
    response = extra or _page(
        "Signed out", "You are signed out of Dualog Identity.", 200, "signed-out"
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _send(
    endpoint: SamlEndpoint, param: str, xml: bytes, relay_state: str | None, state: SandboxState
) -> Response:
    if endpoint.binding == BINDING_REDIRECT:
        sep = "&" if "?" in endpoint.url else "?"
        query = redirect_query(param, xml, relay_state, state.saml_keys)
        return Response(status=302, headers={"Location": f"{endpoint.url}{sep}{query}"})
    return _post(endpoint, param, xml, relay_state)


@bp.route("/auth/saml/slo", methods=["GET", "POST"])
def slo() -> Response:
    """SP-initiated logout (LogoutRequest) and the SP's answer to IdP-initiated logout."""
    state = sandbox()
    param = "SAMLRequest" if "SAMLRequest" in request.values else "SAMLResponse"
    try:
        message, relay_state = _incoming(param)
    except SamlMetadataError as err:
        return _page("Bad SAML logout message", str(err), 400)
    if message.kind == "LogoutResponse":
        return _signed_out()
    if message.kind != "LogoutRequest":
        return _page("Bad SAML logout message", "Expected a LogoutRequest.", 400)
    sp = _find_sp(state, message.issuer)
    if sp is None and not state.config.allow_any_sp:
        return _page(
            "Unknown service provider",
            f"{message.issuer or 'The sender'} is not registered with this IdP.",
            403,
        )
    _end_session(state)
    endpoint = sp.slo_endpoint() if sp else None
    if endpoint is None:
        return _signed_out()
    xml = build_logout_response(
        issuer=state.issuer,
        destination=endpoint.url,
        in_response_to=message.id,
        now=state.clock.now(),
        keys=state.saml_keys,
    )
    return _signed_out(_send(endpoint, "SAMLResponse", xml, relay_state, state))


@bp.get("/auth/saml/logout")
def idp_logout() -> Response:
    """IdP-initiated logout: end the session and send a LogoutRequest to the SP signed into.

    ``?sp=<entity ID>`` picks the SP when the session reached several (others are only
    signed out at the IdP). ``?all_sessions=1`` leaves out the SessionIndex, which asks the
    SP to end every session of the user (SAML Core §3.7.3.2).
    """
    state = sandbox()
    session_index, sps = _end_session(state)
    wanted = request.args.get("sp") or next(iter(sps), None)
    sp = _find_sp(state, wanted)
    endpoint = sp.slo_endpoint() if sp else None
    if session_index is None or sp is None or endpoint is None or wanted not in sps:
        return _signed_out()
    fmt, _, name_id = sps[sp.entity_id].partition(" ")
    xml = build_logout_request(
        issuer=state.issuer,
        destination=endpoint.url,
        name_id=name_id,
        name_id_format=fmt,
        session_index=None if request.args.get("all_sessions") == "1" else session_index,
        now=state.clock.now(),
        keys=state.saml_keys,
    )
    return _signed_out(_send(endpoint, "SAMLRequest", xml, request.args.get("RelayState"), state))
