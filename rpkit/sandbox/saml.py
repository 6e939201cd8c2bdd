"""The SAML IdP endpoints: metadata, SSO (Redirect and POST), SP- and IdP-initiated logout."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, request

from .claims import saml_attributes
from .models import CrewMember
from .oidc import (
    SESSION_COOKIE,
    authenticate_form,
    current_member,
    login_page,
    sandbox,
    start_session,
)
from .pages import render_autopost, render_message
from .saml_sp import (
    BINDING_POST,
    BINDING_REDIRECT,
    RegisteredSP,
    SamlEndpoint,
    SamlMetadataError,
    fetch_metadata,
    parse_sp_metadata,
    parse_xml,
)
from .saml_verify import RequestSignatureError, verify_post, verify_redirect
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

__all__ = ["METADATA_CACHE_DURATION", "METADATA_VALIDITY", "bp"]

log = logging.getLogger("rpkit.sandbox")

bp = Blueprint("saml", __name__)

# RSK's metadata caching defaults are not documented; these are Duende SAML's (12 h
# cacheDuration, 5-day validUntil), so an SP's refresh schedule gets exercised.
METADATA_CACHE_DURATION = "PT12H"
METADATA_VALIDITY = timedelta(days=5)

# What to do about each refused request signature, for the IdP's error page.
_SIGNATURE_FIX = {
    "unsigned": (
        "Sign it with the key whose certificate is registered for this service provider "
        "(rpkit signs by default: sign_requests), or register the SP with "
        "require_signed_requests=false."
    ),
    "sig_alg": "Sign with RSA-SHA256 (or RSA-SHA384/512) and a SHA-2 digest.",
    "signature": (
        "Sign with the key of the certificate registered for this service provider; over "
        "HTTP-Redirect sign the query exactly as sent (SAML Bindings 3.4.4.1). After an SP "
        "key change, register its new metadata."
    ),
    "malformed": "Send SigAlg and Signature together, once each.",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class _Pending:
    request_id: str | None
    sp: RegisteredSP
    acs: SamlEndpoint
    relay_state: str | None
    name_id_format: str


def _page(
    title: str, message: str, status: int, testid: str = "error", reason: str | None = None
) -> Response:
    return Response(
        render_message(title, message, testid=testid, reason=reason),
        status=status,
        mimetype="text/html",
    )


def _find_sp(state: SandboxState, entity_id: str | None) -> RegisteredSP | None:
    with state.lock:
        return state.service_providers.get(entity_id or "")


def _metadata_validity(state: SandboxState) -> timedelta:
    override = state.controls.metadata_valid_for()  # the admin API's metadata fault
    return METADATA_VALIDITY if override is None else timedelta(seconds=override)


@bp.get("/auth/saml/metadata")
def metadata() -> Response:
    """IdP metadata; entity ID ``<base>/auth`` as on Dualog."""
    state = sandbox()
    urls = state.urls.as_dict()
    xml = build_metadata(
        entity_id=state.issuer,
        sso_url=urls["saml_sso"],
        slo_url=urls["saml_slo"],
        certs=state.saml_key_ring.published_certs(),
        valid_until=state.clock.now() + _metadata_validity(state),
        cache_duration=METADATA_CACHE_DURATION,
    )
    return Response(xml, mimetype="application/samlmetadata+xml")


def _incoming(param: str) -> tuple[SamlRequest, str | None]:
    binding = BINDING_POST if request.method == "POST" else BINDING_REDIRECT
    value = request.values.get(param)
    if not value:
        raise SamlMetadataError(f"the request has no {param}")
    return read_request(decode_message(value, binding)), request.values.get("RelayState")


def _sp_certs(state: SandboxState, sp: RegisteredSP, *, refresh: bool = False) -> tuple[bytes, ...]:
    """The SP's registered certificates; else those in the metadata at its entity ID.

    rpkit's SPs (and many others) publish their metadata at their entity ID, so an SP
    registered without a certificate is looked up there on first use, and again after a
    signature fails (the SP may have rolled its key).
    """
    if sp.signing_certs:
        return sp.signing_certs
    with state.lock:
        known = state.fetched_sp_certs.get(sp.entity_id)
    if known is not None and not refresh:
        return known
    if urlsplit(sp.entity_id).scheme not in ("http", "https"):
        return ()
    try:
        found = parse_sp_metadata(fetch_metadata(sp.entity_id))
    except SamlMetadataError as err:
        log.warning("sandbox: no SP metadata at %s (%s)", sp.entity_id, err)
        return ()
    certs = found.signing_certs if found.entity_id == sp.entity_id else ()
    with state.lock:
        state.fetched_sp_certs[sp.entity_id] = certs
    return certs


def _signature_refused(
    state: SandboxState, sp: RegisteredSP, param: str, what: str
) -> Response | None:
    """Check the request's signature when the SP must sign; the IdP error page if not."""
    if not sp.require_signed_requests:
        return None
    certs = _sp_certs(state, sp)
    if not certs:
        return _page(
            "Request signature cannot be checked",
            f"This IdP requires signed requests (WantAuthnRequestsSigned), but no signing "
            f"certificate is registered for {sp.entity_id}. Register its metadata with a "
            "signing KeyDescriptor (POST /_sandbox/service-providers) or give "
            '"signing_cert_file"; or register it with require_signed_requests=false.',
            400,
            reason="no_certificate",
        )

    def verify(keys: tuple[bytes, ...]) -> None:
        if request.method == "POST":
            data = decode_message(request.form.get(param, ""), BINDING_POST)
            verify_post(parse_xml(data), keys)
        else:
            verify_redirect(request.query_string.decode("ascii", "replace"), param, keys)

    try:
        try:
            verify(certs)
        except RequestSignatureError as err:
            if err.reason != "signature" or sp.signing_certs:
                raise
            verify(_sp_certs(state, sp, refresh=True))
    except (RequestSignatureError, SamlMetadataError) as err:
        reason = getattr(err, "reason", "malformed")
        return _page(
            "Request signature refused",
            f"The {what} from {sp.entity_id} was refused: {err}. {_SIGNATURE_FIX[reason]}",
            400,
            reason=reason,
        )
    return None


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
        # Dev mode: an unregistered SP has no registered certificate to check against.
        sp = RegisteredSP(
            entity_id=authn.issuer,
            acs=(SamlEndpoint(authn.acs_url, BINDING_POST),),
            require_signed_requests=False,
        )
    refused = _signature_refused(state, sp, "SAMLRequest", "AuthnRequest")
    if refused is not None:
        return refused
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
    return login_page(
        state,
        sp.entity_id,
        error=error,
        status=status,
        action=state.issuer + "/saml/sso/login",
        hidden={"pending": key},
    )


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
    if fmt == NAME_ID_FORMATS["emailAddress"]:
        return member.email
    # unspecified: the user's opaque, stable id (the OIDC `sub`), as IdentityServer-based
    # IdPs send it; never the email, so an SP keying users on "NameID = email" breaks here
    # as it would at Dualog.
    return member.id


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
    posted = _answer(
        state,
        pending,
        Assertion(
            audience=pending.sp.entity_id,
            name_id=name_id,
            name_id_format=pending.name_id_format,
            session_index=session_index,
            attributes=saml_attributes(
                member, names=pending.sp.attribute_names, mapping=pending.sp.claims_mapping
            ),
        ),
    )
    for header, value in response.headers.items():
        if header.lower() == "set-cookie":
            posted.headers.add(header, value)
    return posted


def _error_response(
    state: SandboxState, pending: _Pending, status: str, sub_status: str
) -> Response:
    return _answer(state, pending, None, status=status, sub_status=sub_status)


def _answer(
    state: SandboxState, pending: _Pending, assertion: Assertion | None, **status: str
) -> Response:
    """POST the signed Response to the SP's ACS (``status``: a failure's status codes)."""
    xml = build_response(
        issuer=state.issuer,
        destination=pending.acs.url,
        in_response_to=pending.request_id,
        now=state.clock.now(),
        keys=state.saml_keys,
        assertion=assertion,
        **status,
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
    if sp is not None:
        refused = _signature_refused(state, sp, "SAMLRequest", "LogoutRequest")
        if refused is not None:
            return refused
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
