"""The sandbox SAML IdP imitates Rock Solid Knowledge SAML2P: signed requests, claim URIs,
opaque NameID, metadata lifetime and signing-certificate rotation, over real HTTP."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests
from lxml import etree

from rpkit.saml._pysaml2 import parse_idp_metadata
from rpkit.testing import SandboxHandle

from .helpers import INGRID, form_action, form_fields
from .saml_helpers import (
    NS,
    RSA_SHA1,
    SHORT_SP,
    SP_ACS,
    UNSIGNED_SP,
    authn_request,
    logout_request,
    redirect_encode,
    sign_enveloped,
    signed_query,
)
from .test_cli_control import run

WS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"


def _other_key() -> bytes:
    """A key whose certificate nobody registered."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _reason(page: requests.Response) -> str | None:
    match = re.search(r"data-reason=([a-z_]+)", page.text)
    return match.group(1) if match else None


def _redirect(sandbox: SandboxHandle, query: str, http: requests.Session | None = None) -> Any:
    return (http or requests).get(f"{sandbox.urls['saml_sso']}?{query}", timeout=10)


def _login(http: requests.Session, page: requests.Response, user: str = INGRID) -> etree._Element:
    assert page.status_code == 200, page.text[:500]
    answer = http.post(
        form_action(page.text), data={**form_fields(page.text), "card": user}, timeout=10
    )
    assert answer.status_code == 200 and form_action(answer.text) == SP_ACS, answer.text[:300]
    return etree.fromstring(base64.b64decode(form_fields(answer.text)["SAMLResponse"]))


def _attributes(response: etree._Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for attribute in response.iterfind(".//saml:Attribute", NS):
        assert attribute.get("FriendlyName") is None
        values = [v.text or "" for v in attribute.iterfind("saml:AttributeValue", NS)]
        found[str(attribute.get("Name"))] = values
    return found


# -- metadata --------------------------------------------------------------------------


def test_metadata_wants_signed_requests_and_has_a_lifetime(sandbox: SandboxHandle) -> None:
    """WantAuthnRequestsSigned="true", validUntil five days ahead, cacheDuration PT12H."""
    xml = requests.get(sandbox.urls["saml_metadata"], timeout=10).content
    root = etree.fromstring(xml)
    idp = root.find("md:IDPSSODescriptor", NS)
    assert idp is not None and idp.get("WantAuthnRequestsSigned") == "true"
    assert root.get("cacheDuration") == "PT12H"
    valid_until = datetime.fromisoformat(str(root.get("validUntil")).replace("Z", "+00:00"))
    assert abs(valid_until - (datetime.now(UTC) + timedelta(days=5))) < timedelta(minutes=5)
    parsed = parse_idp_metadata(xml, None)  # rpkit's reader accepts it
    assert parsed.want_authn_requests_signed and parsed.cache_duration == "PT12H"


# -- request signatures ----------------------------------------------------------------


def test_signed_redirect_request_is_accepted(sandbox: SandboxHandle) -> None:
    """A Redirect AuthnRequest signed with the registered key gets the login page."""
    _, xml = authn_request(sandbox.urls["saml_sso"])
    page = _redirect(sandbox, signed_query(xml, relay_state="r1"))
    assert page.status_code == 200 and "name=card" in page.text


def _tampered(query: str) -> str:
    return query.replace("RelayState=r1", "RelayState=r2")


@pytest.mark.parametrize(
    ("make_query", "reason"),
    [
        (lambda xml: f"SAMLRequest={quote(redirect_encode(xml))}&RelayState=r1", "unsigned"),
        (lambda xml: signed_query(xml, relay_state="r1", key_pem=_other_key()), "signature"),
        (lambda xml: _tampered(signed_query(xml, relay_state="r1")), "signature"),
        (lambda xml: signed_query(xml, relay_state="r1", sig_alg=RSA_SHA1), "sig_alg"),
        (lambda xml: signed_query(xml, relay_state="r1") + "&SigAlg=x", "malformed"),
    ],
    ids=["unsigned", "wrong_key", "tampered_query", "sha1_sig_alg", "repeated_sig_alg"],
)
def test_bad_redirect_signature_gets_the_idp_error_page(
    sandbox: SandboxHandle, make_query: Any, reason: str
) -> None:
    """Each bad Redirect signature is refused on the IdP's page, naming the reason and fix."""
    _, xml = authn_request(sandbox.urls["saml_sso"])
    page = _redirect(sandbox, make_query(xml))
    assert page.status_code == 400
    assert _reason(page) == reason
    assert "Request signature refused" in page.text
    assert sandbox.state.pending_saml == {}  # nothing was started


def _post(sandbox: SandboxHandle, xml: bytes) -> requests.Response:
    data = {"SAMLRequest": base64.b64encode(xml).decode(), "RelayState": "r1"}
    return requests.post(sandbox.urls["saml_sso"], data=data, timeout=10)


def test_signed_post_request_is_accepted(sandbox: SandboxHandle) -> None:
    """A POST AuthnRequest with an enveloped signature by the registered key is accepted."""
    _, xml = authn_request(sandbox.urls["saml_sso"])
    page = _post(sandbox, sign_enveloped(xml))
    assert page.status_code == 200 and "name=card" in page.text


@pytest.mark.parametrize(
    ("make_xml", "reason"),
    [
        (lambda xml: xml, "unsigned"),
        (lambda xml: sign_enveloped(xml, key_pem=_other_key()), "signature"),
        (
            # Changed after signing: the request now forces a new authentication.
            lambda xml: sign_enveloped(xml).replace(
                b'Version="2.0"', b'Version="2.0" ForceAuthn="true"', 1
            ),
            "signature",
        ),
    ],
    ids=["unsigned", "wrong_key", "tampered"],
)
def test_bad_post_signature_gets_the_idp_error_page(
    sandbox: SandboxHandle, make_xml: Any, reason: str
) -> None:
    """An unsigned, wrongly signed or altered POST AuthnRequest is refused with its reason."""
    _, xml = authn_request(sandbox.urls["saml_sso"])
    page = _post(sandbox, make_xml(xml))
    assert page.status_code == 400 and _reason(page) == reason


def test_unsigned_logout_request_is_refused(sandbox: SandboxHandle) -> None:
    """An SP's LogoutRequest must be signed too; unsigned it ends nothing."""
    xml = logout_request(sandbox.urls["saml_slo"], INGRID)
    page = requests.get(
        sandbox.urls["saml_slo"], params={"SAMLRequest": redirect_encode(xml)}, timeout=10
    )
    assert page.status_code == 400 and _reason(page) == "unsigned"
    signed = requests.get(f"{sandbox.urls['saml_slo']}?{signed_query(xml)}", timeout=10)
    assert signed.status_code == 200


def test_per_sp_switch_accepts_unsigned_requests(sandbox: SandboxHandle) -> None:
    """require_signed_requests=false (RSK's per-SP setting) lets an unsigned request in."""
    _, xml = authn_request(sandbox.urls["saml_sso"], issuer=UNSIGNED_SP)
    page = _redirect(sandbox, f"SAMLRequest={quote(redirect_encode(xml))}")
    assert page.status_code == 200 and "name=card" in page.text


def test_sp_without_certificate_is_told_to_register_one(sandbox: SandboxHandle) -> None:
    """An SP registered with no certificate (none at its entity ID either) cannot sign in."""
    sandbox.register_sp(
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'entityID="urn:example:no-cert"><md:SPSSODescriptor protocolSupportEnumeration='
        '"urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService index="0" '
        f'Location="{SP_ACS}" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    )
    _, xml = authn_request(sandbox.urls["saml_sso"], issuer="urn:example:no-cert")
    page = _redirect(sandbox, signed_query(xml))
    assert page.status_code == 400 and _reason(page) == "no_certificate"
    assert "require_signed_requests" in page.text


# -- assertion shape -------------------------------------------------------------------


def test_rsk_shaped_assertion(sandbox: SandboxHandle) -> None:
    """Default: unspecified NameID = opaque stable id; only mapped claims, under claim URIs."""
    member = sandbox.state.store.find_user(INGRID)
    assert member is not None
    name_ids = []
    for _ in range(2):
        with requests.Session() as http:
            _, xml = authn_request(sandbox.urls["saml_sso"])
            response = _login(http, _redirect(sandbox, signed_query(xml), http))
        name_id = response.find(".//saml:Subject/saml:NameID", NS)
        assert name_id is not None
        assert name_id.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
        name_ids.append(name_id.text)
    assert name_ids == [member.id, member.id] and "@" not in member.id
    assert _attributes(response) == {
        WS + "emailaddress": [INGRID],
        WS + "givenname": ["Ingrid"],
        WS + "surname": ["Larsen"],
        WS + "name": ["Ingrid Larsen"],
        "rank": ["Master"],
    }


def test_short_attribute_names_switch(sandbox: SandboxHandle) -> None:
    """attribute_names="short": every claim under its short name, no claim URIs."""
    with requests.Session() as http:
        _, xml = authn_request(sandbox.urls["saml_sso"], issuer=SHORT_SP)
        response = _login(http, _redirect(sandbox, signed_query(xml), http))
    attrs = _attributes(response)
    assert attrs["email"] == [INGRID] and attrs["rank"] == ["Master"]
    assert attrs["department"] == ["Deck"] and attrs["ship_imo"] == ["9312456"]
    assert not any(name.startswith("http") for name in attrs)


# -- signing-certificate rotation ------------------------------------------------------


def _metadata_certs(sandbox: SandboxHandle) -> list[str]:
    root = etree.fromstring(requests.get(sandbox.urls["saml_metadata"], timeout=10).content)
    return ["".join((c.text or "").split()) for c in root.iterfind(".//ds:X509Certificate", NS)]


def _response_cert(sandbox: SandboxHandle) -> str:
    with requests.Session() as http:
        _, xml = authn_request(sandbox.urls["saml_sso"])
        response = _login(http, _redirect(sandbox, signed_query(xml), http))
    cert = response.findtext("ds:Signature//ds:X509Certificate", namespaces=NS)
    return "".join((cert or "").split())


def test_rotation_lists_both_certificates_during_grace(sandbox: SandboxHandle) -> None:
    """After a rotation the new certificate signs; metadata lists new and old until grace ends."""
    old = _metadata_certs(sandbox)
    assert len(old) == 1
    sandbox.rotate_saml_cert(grace_seconds=600)
    listed = _metadata_certs(sandbox)
    assert len(listed) == 2 and listed[1] == old[0]
    assert _response_cert(sandbox) == listed[0] != old[0]
    sandbox.shift_clock(601)
    assert _metadata_certs(sandbox) == [listed[0]]


def test_cli_rotates_unpublished_then_publishes(
    sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rpkit sandbox rotate-saml-cert --unpublished` signs with a certificate not in metadata."""
    old = _metadata_certs(sandbox)
    assert run(sandbox, "rotate-saml-cert", "--grace", "0", "--unpublished") == 0
    assert _metadata_certs(sandbox) == []  # the old one retired at once, the new one hidden
    assert _response_cert(sandbox) not in old
    assert run(sandbox, "publish-saml-certs") == 0
    assert _metadata_certs(sandbox) == [_response_cert(sandbox)]
    capsys.readouterr()


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"attribute_names": "friendly"},
        {"claims_mapping": {"email": ""}},
        {"require_signed_requests": "no"},
    ],
    ids=["bad_attribute_names", "empty_mapped_name", "switch_not_bool"],
)
def test_bad_sp_settings_raise(values: dict[str, Any]) -> None:
    """A wrong per-SP switch is a ConfigurationError when the config is read."""
    from rpkit.errors import ConfigurationError
    from rpkit.sandbox.config import SamlServiceProviderConfig

    with pytest.raises(ConfigurationError):
        SamlServiceProviderConfig.from_mapping(
            {"entity_id": "urn:sp", "acs_urls": [SP_ACS], **values}
        )


def test_sp_switches_load_from_a_config_file(tmp_path: Any) -> None:
    """The per-SP switches load from the sandbox config file (JSON)."""
    import json

    from rpkit.sandbox.config import SandboxConfig
    from rpkit.sandbox.saml_sp import sp_from_config

    path = tmp_path / "sandbox.json"
    entry = {
        "entity_id": "urn:sp",
        "acs_urls": [SP_ACS],
        "require_signed_requests": False,
        "attribute_names": "short",
        "claims_mapping": {"email": "mail"},
    }
    path.write_text(json.dumps({"service_providers": [entry], "replace_defaults": True}))
    config = SandboxConfig.load(path)
    sp = sp_from_config(config.service_providers[0])
    assert (sp.require_signed_requests, sp.attribute_names) == (False, "short")
    assert sp.claims_mapping == {"email": "mail"}


def test_register_sp_with_switches_over_the_admin_api(sandbox: SandboxHandle) -> None:
    """POST /_sandbox/service-providers takes RSK's per-SP switches; a bad one is a 400."""
    metadata = (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'entityID="urn:example:lenient"><md:SPSSODescriptor protocolSupportEnumeration='
        '"urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService index="0" '
        f'Location="{SP_ACS}" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    )
    sandbox.register_sp(metadata, require_signed_requests=False, attribute_names="short")
    with requests.Session() as http:
        _, xml = authn_request(sandbox.urls["saml_sso"], issuer="urn:example:lenient")
        unsigned = f"SAMLRequest={quote(redirect_encode(xml))}"
        response = _login(http, _redirect(sandbox, unsigned, http))
    assert _attributes(response)["department"] == ["Deck"]
    bad = requests.post(
        f"{sandbox.local_url}/_sandbox/service-providers",
        json={"metadata": metadata, "attribute_names": "friendly"},
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
        timeout=10,
    )
    assert bad.status_code == 400
