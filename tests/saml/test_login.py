"""Login: AuthnRequest over Redirect and POST, opaque RelayState, single-use pending state."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from rpkit.errors import SamlResponseError, ValidationError
from rpkit.saml import ServiceProvider
from rpkit.saml._bindings import decode_redirect
from rpkit.saml._gate import NS
from rpkit.saml._xmlsec import load_verify_key
from rpkit.store import MemoryStore

from .idp import ACS_URL, NOW, SSO_URL, ResponseSpec, TestIdp


def _sp_key(sp: ServiceProvider) -> bytes:
    assert sp.config.sp_cert_file
    with open(sp.config.sp_cert_file, "rb") as fh:
        return fh.read()


def test_redirect_login_is_signed_over_the_query(sp: ServiceProvider) -> None:
    """The Redirect URL carries a deflated AuthnRequest signed with RSA-SHA256."""
    login = sp.start_login(return_to="/ship/roster")
    assert login.message.url is not None and login.message.url.startswith(SSO_URL + "?")
    query = urlsplit(login.message.url).query
    xml, relay_state = decode_redirect(
        query,
        "SAMLRequest",
        keys=[load_verify_key(_sp_key(sp))],
        accepted_algorithms=sp.config.accepted_signature_algorithms,
        max_bytes=100_000,
        what="test",
    )
    assert relay_state == login.pending.relay_state
    request = etree.fromstring(xml)
    assert request.get("ID") == login.pending.request_id
    assert request.get("AssertionConsumerServiceURL") == ACS_URL
    assert request.get("Destination") == SSO_URL
    # No NameIDPolicy by default: the IdP uses the format registered for this SP.
    assert request.find("samlp:NameIDPolicy", NS) is None
    params = parse_qs(query)
    assert params["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert not relay_state.startswith("/")


@pytest.mark.parametrize(
    ("setting", "sent"),
    [
        ("unspecified", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
        ("persistent", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"),
        ("email", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
    ],
)
def test_configured_name_id_format_is_requested(
    make_sp: Callable[..., ServiceProvider], setting: str, sent: str
) -> None:
    """With name_id_format set, the AuthnRequest's NameIDPolicy asks for that format."""
    sp = make_sp(name_id_format=setting)
    login = sp.start_login(binding="post")
    assert login.message.form is not None
    root = etree.fromstring(base64.b64decode(login.message.form["SAMLRequest"]))
    policy = root.find("samlp:NameIDPolicy", NS)
    assert policy is not None and policy.get("Format") == sent
    assert policy.get("AllowCreate") == "true"


def test_post_login_is_an_enveloped_signed_form(sp: ServiceProvider) -> None:
    """The POST binding yields a self-submitting form with a signed AuthnRequest."""
    login = sp.start_login(binding="post")
    message = login.message
    assert message.form_action == SSO_URL and message.form is not None
    xml = base64.b64decode(message.form["SAMLRequest"])
    root = etree.fromstring(xml)
    assert root.find("ds:Signature", NS) is not None
    assert message.form["RelayState"] == login.pending.relay_state
    html = message.form_html()
    assert 'action="https://idp.test/auth/saml/sso"' in html
    assert login.pending.relay_state in html


def test_browser_cookie_survives_samesite_lax_sessions(sp: ServiceProvider) -> None:
    """The binding cookie is SameSite=None; Secure; HttpOnly and scoped to the ACS path."""
    cookie = sp.start_login().cookie
    header = cookie.header_value()
    assert "SameSite=None" in header and "Secure" in header and "HttpOnly" in header
    assert cookie.path == "/auth/saml/acs"


def test_complete_login_round_trip(idp: TestIdp, sp: ServiceProvider) -> None:
    """start_login, the IdP's answer, complete_login: identity and the stored return_to."""
    login = sp.start_login(return_to="/crew")
    spec = ResponseSpec(
        in_response_to=login.pending.request_id, scd_in_response_to=login.pending.request_id
    )
    identity, return_to = sp.complete_login(
        idp.signed_response(spec), login.pending.relay_state, browser_token=login.cookie.value
    )
    assert identity.subject == "crew-4711" and return_to == "/crew"


def test_pending_request_is_single_use(idp: TestIdp, sp: ServiceProvider) -> None:
    """A second ACS post with the same RelayState finds no pending request."""
    login = sp.start_login()
    sp.take_pending(login.pending.relay_state, browser_token=login.cookie.value)
    with pytest.raises(SamlResponseError) as info:
        sp.take_pending(login.pending.relay_state, browser_token=login.cookie.value)
    assert info.value.reason == "relay_state"


def test_pending_request_is_bound_to_the_browser(sp: ServiceProvider) -> None:
    """Another browser (another cookie, or none) cannot complete the login."""
    login = sp.start_login()
    with pytest.raises(SamlResponseError) as info:
        sp.take_pending(login.pending.relay_state, browser_token="someone-else")
    assert info.value.reason == "browser_binding"


def test_pending_request_expires(idp: TestIdp, sp: ServiceProvider) -> None:
    """A response to a request older than pending_ttl is refused."""
    from datetime import timedelta

    login = sp.start_login()
    pending = sp.take_pending(login.pending.relay_state, browser_token=login.cookie.value)
    spec = ResponseSpec(
        in_response_to=pending.request_id,
        scd_in_response_to=pending.request_id,
        issue_instant=NOW + timedelta(minutes=20),
        not_before=None,
        not_on_or_after=None,
        scd_not_on_or_after=NOW + timedelta(minutes=25),
    )
    with pytest.raises(SamlResponseError) as info:
        sp.process_response(
            idp.signed_response(spec),
            pending.relay_state,
            expected=pending,
            now=NOW + timedelta(minutes=20),
        )
    assert info.value.reason == "expired"


@pytest.mark.parametrize(
    "return_to", ["https://evil.test/", "//evil.test/", "/\\evil.test", "javascript:x", "x"]
)
def test_return_to_must_stay_on_site(sp: ServiceProvider, return_to: str) -> None:
    """return_to is a local path, never a URL, so RelayState can't be an open redirect."""
    with pytest.raises(ValidationError):
        sp.start_login(return_to=return_to)


def test_pending_state_round_trips_through_a_store(
    idp: TestIdp, make_sp: Callable[..., ServiceProvider]
) -> None:
    """Pending requests are bytes in the StateStore, so a shared (Redis) store works."""
    store = MemoryStore()
    sp1 = make_sp()
    sp2 = make_sp()
    sp1.store = sp2.store = store
    login = sp1.start_login()
    pending = sp2.take_pending(login.pending.relay_state, browser_token=login.cookie.value)
    assert pending == login.pending


def test_redirect_deflate_is_raw(sp: ServiceProvider) -> None:
    """SAMLRequest is raw DEFLATE (no zlib header), as SAML Bindings §3.4.4.1 requires."""
    login = sp.start_login()
    assert login.message.url is not None
    raw = parse_qs(urlsplit(login.message.url).query)["SAMLRequest"][0]
    assert zlib.decompress(base64.b64decode(raw), -15).startswith(b"<")


def test_two_tabs_share_the_browser_cookie(sp: ServiceProvider) -> None:
    """A login started with the existing cookie value keeps it, so both tabs complete."""
    first = sp.start_login()
    second = sp.start_login(browser_token=first.cookie.value)
    assert second.cookie.value == first.cookie.value
    sp.take_pending(first.pending.relay_state, browser_token=first.cookie.value)
    sp.take_pending(second.pending.relay_state, browser_token=first.cookie.value)
