"""The SAML IdP over real HTTP: metadata, SSO over both bindings, attributes, logout."""

from __future__ import annotations

import base64

import pytest
import requests
from lxml import etree

from rpkit.testing import SandboxHandle

from .helpers import INGRID, LENA, form_action, form_fields
from .saml_helpers import (
    NS,
    SP_ACS,
    SP_CERT,
    SP_ENTITY_ID,
    authn_request,
    idp_certificate,
    logout_request,
    redirect_encode,
    sign_enveloped,
    signed_query,
    verify_signed,
)

PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"


def _metadata(sandbox: SandboxHandle) -> bytes:
    answer = requests.get(sandbox.urls["saml_metadata"], timeout=10)
    assert answer.status_code == 200
    return answer.content


def _login(
    http: requests.Session, sandbox: SandboxHandle, page: requests.Response, user: str
) -> requests.Response:
    assert page.status_code == 200, page.text
    fields = form_fields(page.text)
    return http.post(form_action(page.text), data={**fields, "card": user}, timeout=10)


def _saml_response(answer: requests.Response) -> etree._Element:
    assert answer.status_code == 200, answer.text
    assert form_action(answer.text) == SP_ACS
    xml = base64.b64decode(form_fields(answer.text)["SAMLResponse"])
    return etree.fromstring(xml)


def _sso_redirect(
    http: requests.Session, sandbox: SandboxHandle, **kwargs: object
) -> tuple[str, requests.Response]:
    """Send a signed HTTP-Redirect AuthnRequest from the demo SP (or ``issuer=``)."""
    request_id, xml = authn_request(sandbox.urls["saml_sso"], **kwargs)  # type: ignore[arg-type]
    query = signed_query(xml, relay_state="/after")
    return request_id, http.get(f"{sandbox.urls['saml_sso']}?{query}", timeout=10)


def test_metadata(sandbox: SandboxHandle) -> None:
    """Metadata: entity ID <base>/auth, both SSO bindings, SLO, the four NameID formats."""
    root = etree.fromstring(_metadata(sandbox))
    assert root.get("entityID") == sandbox.base_url + "/auth"
    sso = root.findall(".//md:SingleSignOnService", NS)
    assert {s.get("Binding").rsplit(":", 1)[1] for s in sso} == {"HTTP-Redirect", "HTTP-POST"}
    assert all(s.get("Location") == sandbox.urls["saml_sso"] for s in sso)
    assert root.findall(".//md:SingleLogoutService", NS)
    formats = {f.text for f in root.findall(".//md:NameIDFormat", NS)}
    assert formats == {PERSISTENT, TRANSIENT, EMAIL, UNSPECIFIED}
    assert idp_certificate(etree.tostring(root))


def test_sso_redirect_binding_signed_response(sandbox: SandboxHandle) -> None:
    """Redirect-binding SSO answers a signed response with a signed assertion for the SP."""
    cert = idp_certificate(_metadata(sandbox))
    with requests.Session() as http:
        request_id, page = _sso_redirect(http, sandbox)
        answer = _login(http, sandbox, page, INGRID)
    assert form_fields(answer.text)["RelayState"] == "/after"
    response = _saml_response(answer)
    verify_signed(response, cert)
    assertion = response.find("saml:Assertion", NS)
    assert assertion is not None
    verify_signed(assertion, cert)
    assert response.get("InResponseTo") == request_id
    assert response.findtext("saml:Issuer", namespaces=NS) == sandbox.issuer
    assert assertion.findtext(".//saml:Audience", namespaces=NS) == SP_ENTITY_ID


def test_sso_post_binding(sandbox: SandboxHandle) -> None:
    """POST-binding AuthnRequests work too."""
    _, xml = authn_request(sandbox.urls["saml_sso"])
    with requests.Session() as http:
        page = http.post(
            sandbox.urls["saml_sso"],
            data={"SAMLRequest": base64.b64encode(sign_enveloped(xml)).decode()},
            timeout=10,
        )
        response = _saml_response(_login(http, sandbox, page, INGRID))
    assert response.find("samlp:Status/samlp:StatusCode", NS).get("Value").endswith(":Success")


@pytest.mark.parametrize(
    "fmt",
    [PERSISTENT, TRANSIENT, EMAIL, UNSPECIFIED],
    ids=["persistent", "transient", "email", "unspecified"],
)
def test_name_id_formats(sandbox: SandboxHandle, fmt: str) -> None:
    """Each supported NameID format is honoured."""
    with requests.Session() as http:
        _, page = _sso_redirect(http, sandbox, name_id_format=fmt)
        response = _saml_response(_login(http, sandbox, page, INGRID))
    name_id = response.find(".//saml:Subject/saml:NameID", NS)
    assert name_id is not None and name_id.get("Format") == fmt
    if fmt == EMAIL:
        assert name_id.text == INGRID
    else:  # unspecified: the opaque user id, as RSK sends it; never the email
        assert name_id.text and "@" not in name_id.text


def test_unknown_sp_is_refused(sandbox: SandboxHandle) -> None:
    """An AuthnRequest from an unregistered SP is refused unless allow_any_sp."""
    with requests.Session() as http:
        _, page = _sso_redirect(http, sandbox, issuer="http://stranger.example/sp")
    assert page.status_code == 403 and "not registered" in page.text


def test_unregistered_acs_is_refused(sandbox: SandboxHandle) -> None:
    """A registered SP cannot ask for an assertion at another ACS URL."""
    with requests.Session() as http:
        _, page = _sso_redirect(http, sandbox, acs="http://evil.example/acs")
    assert page.status_code == 403


@pytest.mark.parametrize(
    "value",
    [
        "%%%",
        base64.b64encode(b"not deflate").decode(),
        redirect_encode(b"<x/>"),
        redirect_encode(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>'),
    ],
    ids=["not_base64", "not_deflate", "wrong_root", "dtd"],
)
def test_hostile_requests_get_400(sandbox: SandboxHandle, value: str) -> None:
    """Malformed SAMLRequest values are a 400 page, never a 500."""
    answer = requests.get(sandbox.urls["saml_sso"], params={"SAMLRequest": value}, timeout=10)
    assert answer.status_code == 400


def test_deny_and_refused_crew(sandbox: SandboxHandle) -> None:
    """Deny answers RequestDenied; inactive crew see the reason on the page."""
    with requests.Session() as http:
        _, page = _sso_redirect(http, sandbox)
        refused = _login(http, sandbox, page, LENA)
        assert refused.status_code == 403 and "inactive" in refused.text
        denied = http.post(
            form_action(page.text), data={**form_fields(page.text), "deny": "1"}, timeout=10
        )
    codes = [c.get("Value") for c in _saml_response(denied).iter(f"{{{NS['samlp']}}}StatusCode")]
    assert codes[-1].endswith(":RequestDenied")


def test_is_passive_without_session_is_no_passive(sandbox: SandboxHandle) -> None:
    """IsPassive with no IdP session answers NoPassive."""
    with requests.Session() as http:
        _, answer = _sso_redirect(http, sandbox, is_passive=True)
    codes = [c.get("Value") for c in _saml_response(answer).iter(f"{{{NS['samlp']}}}StatusCode")]
    assert codes[-1].endswith(":NoPassive")


def test_sp_initiated_logout(sandbox: SandboxHandle) -> None:
    """A LogoutRequest ends the session and answers a signed LogoutResponse to the SP."""
    cert = idp_certificate(_metadata(sandbox))
    with requests.Session() as http:
        _, page = _sso_redirect(http, sandbox)
        _login(http, sandbox, page, INGRID)
        xml = logout_request(sandbox.urls["saml_slo"], INGRID)
        answer = http.get(f"{sandbox.urls['saml_slo']}?{signed_query(xml)}", timeout=10)
        assert answer.status_code == 200
        assert form_action(answer.text) == "http://127.0.0.1:5000/auth/saml/slo"
        logout = etree.fromstring(base64.b64decode(form_fields(answer.text)["SAMLResponse"]))
        verify_signed(logout, cert)
        # The session is gone: IsPassive now fails.
        _, passive = _sso_redirect(http, sandbox, is_passive=True)
    codes = [c.get("Value") for c in _saml_response(passive).iter(f"{{{NS['samlp']}}}StatusCode")]
    assert codes[-1].endswith(":NoPassive")


def test_idp_initiated_logout(sandbox: SandboxHandle) -> None:
    """IdP-initiated logout sends a signed LogoutRequest naming the user to the SP."""
    cert = idp_certificate(_metadata(sandbox))
    with requests.Session() as http:
        _, page = _sso_redirect(http, sandbox, name_id_format=EMAIL)
        _login(http, sandbox, page, INGRID)
        answer = http.get(sandbox.urls["issuer"] + "/saml/logout", timeout=10)
    request = etree.fromstring(base64.b64decode(form_fields(answer.text)["SAMLRequest"]))
    verify_signed(request, cert)
    assert request.findtext("saml:NameID", namespaces=NS) == INGRID
    assert request.findtext("samlp:SessionIndex", namespaces=NS)


def test_sp_registered_from_metadata(sandbox: SandboxHandle) -> None:
    """An SP registered from its metadata (with its signing certificate) signs in at its ACS."""
    cert = "".join(SP_CERT.read_text().strip().splitlines()[1:-1])
    metadata = f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
      xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
      entityID="https://crewapp.example/saml"><md:SPSSODescriptor
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
      <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
      <ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
      </md:KeyDescriptor>
      <md:AssertionConsumerService index="0" Location="https://crewapp.example/acs"
       Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"/></md:SPSSODescriptor>
      </md:EntityDescriptor>"""
    sandbox.register_sp(metadata)
    with requests.Session() as http:
        _, page = _sso_redirect(http, sandbox, issuer="https://crewapp.example/saml", acs=None)
        answer = _login(http, sandbox, page, INGRID)
    assert form_action(answer.text) == "https://crewapp.example/acs"
