"""A small in-test SAML IdP: builds responses and logout messages, signs with python-xmlsec.

Keys are generated at import (throwaway, never written to disk); every test process gets
its own. ``build_response`` returns an unsigned lxml tree so vectors can change one thing
before or after signing.

Why it stays beside the sandbox (the IdP that the Flask, browser and interop tests sign in
with): it is not a server but a message builder for the pure validator, at a fixed instant
(``NOW``), and the named attack vectors (``vectors.py``: XSW1-8, comments in NameID,
duplicated IDs, unsigned or twice-signed parts...) need a tree to cut into before or after
the signature, which a faithful IdP never hands out. ``benchmarks/login_throughput.py``
also uses it: building a signed response in-process lets the benchmark post thousands of
ACS requests without a browser round trip through an IdP's pages.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from rpkit.saml import _bindings, _xmlsec
from rpkit.saml._gate import NS

NOW = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
IDP_ENTITY_ID = "https://idp.test/auth"
SSO_URL = "https://idp.test/auth/saml/sso"
SLO_URL = "https://idp.test/auth/saml/slo"
SP_ENTITY_ID = "https://app.test/saml"
ACS_URL = "https://app.test/auth/saml/acs"
LOGOUT_URL = "https://app.test/auth/saml/logout"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
SAMLP = NS["samlp"]
SAML = NS["saml"]


def make_key_pair(common_name: str) -> tuple[bytes, bytes]:
    """A throwaway RSA-2048 key and self-signed certificate, PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def instant(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def q(ns: str, local: str) -> str:
    return f"{{{NS[ns]}}}{local}"


_counter = iter(range(1, 10**9))


def new_id() -> str:
    return f"_id{next(_counter):06d}"


@dataclass
class ResponseSpec:
    """Every field of a response the vectors may change; defaults make a valid one."""

    in_response_to: str | None = "_request1"
    issue_instant: datetime = NOW
    destination: str | None = ACS_URL
    response_issuer: str | None = IDP_ENTITY_ID
    assertion_issuer: str = IDP_ENTITY_ID
    name_id: str = "crew-4711"
    name_id_format: str | None = PERSISTENT
    recipient: str | None = ACS_URL
    scd_not_on_or_after: datetime | None = NOW + timedelta(minutes=5)
    scd_in_response_to: str | None = "_request1"
    audience: str = SP_ENTITY_ID
    not_before: datetime | None = NOW - timedelta(seconds=30)
    not_on_or_after: datetime | None = NOW + timedelta(minutes=5)
    session_index: str = "_session1"
    status: str = "urn:oasis:names:tc:SAML:2.0:status:Success"
    attributes: dict[str, list[str]] = field(
        default_factory=lambda: {
            "email": ["anna.berg@crew.test"],
            "givenName": ["Anna"],
            "sn": ["Berg"],
            "rank": ["Chief Officer"],
            "department": ["Deck"],
            "shipName": ["MV Nordlys"],
            "shipImo": ["9876543"],
        }
    )


class TestIdp:
    """Holds the IdP key pair and builds, signs and encodes messages."""

    __test__ = False

    def __init__(self, entity_id: str = IDP_ENTITY_ID) -> None:
        self.entity_id = entity_id
        self.key_pem, self.cert_pem = make_key_pair("rpkit test IdP (throwaway)")
        self.signing_key = _xmlsec.SigningKey(self.key_pem, self.cert_pem)

    # -- metadata ---------------------------------------------------------------------

    def metadata(
        self,
        *,
        valid_until: datetime | None = NOW + timedelta(days=2),
        cache_duration: str | None = "PT6H",
        slo: bool = True,
        sign_with: _xmlsec.SigningKey | None = None,
        cert_pem: bytes | None = None,
    ) -> bytes:
        cert = _xmlsec.cert_der_b64(cert_pem or self.cert_pem)
        attrs = f' validUntil="{instant(valid_until)}"' if valid_until else ""
        attrs += f' cacheDuration="{cache_duration}"' if cache_duration else ""
        slo_xml = (
            f'<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"'
            f' Location="{SLO_URL}"/>'
            f'<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"'
            f' Location="{SLO_URL}"/>'
            if slo
            else ""
        )
        xml = f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
 xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_md1" entityID="{self.entity_id}"{attrs}>
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
<ds:X509Certificate>{cert}</ds:X509Certificate>
</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
{slo_xml}
<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
<md:SingleSignOnService Location="{SSO_URL}"
 Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"/>
<md:SingleSignOnService Location="{SSO_URL}"
 Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"/>
</md:IDPSSODescriptor></md:EntityDescriptor>""".encode()
        if sign_with is None:
            return xml
        root = etree.fromstring(xml)
        _xmlsec.sign_enveloped(root, sign_with)
        return bytes(etree.tostring(root))

    # -- responses --------------------------------------------------------------------

    def build_response(self, spec: ResponseSpec | None = None) -> etree._Element:
        s = spec or ResponseSpec()
        nsmap = {"samlp": SAMLP, "saml": SAML}
        response = etree.Element(q("samlp", "Response"), nsmap=nsmap)
        response.set("ID", new_id())
        response.set("Version", "2.0")
        response.set("IssueInstant", instant(s.issue_instant))
        if s.destination is not None:
            response.set("Destination", s.destination)
        if s.in_response_to is not None:
            response.set("InResponseTo", s.in_response_to)
        if s.response_issuer is not None:
            etree.SubElement(response, q("saml", "Issuer")).text = s.response_issuer
        status = etree.SubElement(response, q("samlp", "Status"))
        etree.SubElement(status, q("samlp", "StatusCode")).set("Value", s.status)

        assertion = etree.SubElement(response, q("saml", "Assertion"))
        assertion.set("ID", new_id())
        assertion.set("Version", "2.0")
        assertion.set("IssueInstant", instant(s.issue_instant))
        etree.SubElement(assertion, q("saml", "Issuer")).text = s.assertion_issuer
        subject = etree.SubElement(assertion, q("saml", "Subject"))
        name_id = etree.SubElement(subject, q("saml", "NameID"))
        name_id.text = s.name_id
        if s.name_id_format:
            name_id.set("Format", s.name_id_format)
        confirmation = etree.SubElement(subject, q("saml", "SubjectConfirmation"))
        confirmation.set("Method", BEARER)
        data = etree.SubElement(confirmation, q("saml", "SubjectConfirmationData"))
        if s.recipient is not None:
            data.set("Recipient", s.recipient)
        if s.scd_not_on_or_after is not None:
            data.set("NotOnOrAfter", instant(s.scd_not_on_or_after))
        if s.scd_in_response_to is not None:
            data.set("InResponseTo", s.scd_in_response_to)
        conditions = etree.SubElement(assertion, q("saml", "Conditions"))
        if s.not_before is not None:
            conditions.set("NotBefore", instant(s.not_before))
        if s.not_on_or_after is not None:
            conditions.set("NotOnOrAfter", instant(s.not_on_or_after))
        restriction = etree.SubElement(conditions, q("saml", "AudienceRestriction"))
        etree.SubElement(restriction, q("saml", "Audience")).text = s.audience
        authn = etree.SubElement(assertion, q("saml", "AuthnStatement"))
        authn.set("AuthnInstant", instant(s.issue_instant))
        authn.set("SessionIndex", s.session_index)
        context = etree.SubElement(authn, q("saml", "AuthnContext"))
        etree.SubElement(
            context, q("saml", "AuthnContextClassRef")
        ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        if s.attributes:
            statement = etree.SubElement(assertion, q("saml", "AttributeStatement"))
            for name, values in s.attributes.items():
                attribute = etree.SubElement(statement, q("saml", "Attribute"))
                attribute.set("Name", name)
                for value in values:
                    etree.SubElement(attribute, q("saml", "AttributeValue")).text = value
        return response

    def sign(
        self,
        element: etree._Element,
        key: _xmlsec.SigningKey | None = None,
        *,
        algorithm: str = _xmlsec.RSA_SHA256,
        digest: str = "http://www.w3.org/2001/04/xmlenc#sha256",
    ) -> etree._Element:
        _xmlsec.sign_enveloped(element, key or self.signing_key, algorithm=algorithm, digest=digest)
        return element

    @staticmethod
    def assertion_of(response: etree._Element) -> etree._Element:
        found = response.find("saml:Assertion", NS)
        assert found is not None
        return found

    def encrypt_assertion(
        self, response: etree._Element, sp_cert_pem: bytes, *, key_transport: Any = None
    ) -> None:
        assertion = self.assertion_of(response)
        wrapper = etree.Element(q("saml", "EncryptedAssertion"))
        assertion.addprevious(wrapper)
        wrapper.append(assertion)
        if key_transport is None:
            _xmlsec.encrypt_element(assertion, sp_cert_pem)
        else:
            _xmlsec.encrypt_element(assertion, sp_cert_pem, key_transport=key_transport)

    @staticmethod
    def encode(root: etree._Element | bytes) -> str:
        data = root if isinstance(root, bytes) else etree.tostring(root)
        return base64.b64encode(data).decode("ascii")

    def signed_response(self, spec: ResponseSpec | None = None, **how: Any) -> str:
        """A valid response signed on the Response (``response=``) and/or the Assertion."""
        response = self.build_response(spec)
        if how.get("assertion", False):
            self.sign(self.assertion_of(response))
        if how.get("response", True):
            self.sign(response)
        return self.encode(response)

    # -- logout -----------------------------------------------------------------------

    def logout_request(
        self,
        *,
        name_id: str = "crew-4711",
        session_index: str = "_session1",
        destination: str = LOGOUT_URL,
        issue_instant: datetime = NOW,
    ) -> bytes:
        return f"""<samlp:LogoutRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}"
 ID="{new_id()}" Version="2.0" IssueInstant="{instant(issue_instant)}"
 Destination="{destination}" NotOnOrAfter="{instant(issue_instant + timedelta(minutes=5))}">
<saml:Issuer>{self.entity_id}</saml:Issuer>
<saml:NameID Format="{PERSISTENT}">{name_id}</saml:NameID>
<samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>""".encode()

    def logout_response(self, in_response_to: str, *, issue_instant: datetime = NOW) -> bytes:
        return f"""<samlp:LogoutResponse xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}"
 ID="{new_id()}" Version="2.0" IssueInstant="{instant(issue_instant)}"
 Destination="{LOGOUT_URL}" InResponseTo="{in_response_to}">
<saml:Issuer>{self.entity_id}</saml:Issuer>
<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>
</samlp:Status></samlp:LogoutResponse>""".encode()

    def redirect_query(
        self, param: str, xml: bytes, relay_state: str | None, *, signed: bool = True
    ) -> str:
        url = _bindings.encode_redirect(
            "https://x.test/", param, xml, relay_state, self.signing_key if signed else None
        )
        return url.split("?", 1)[1]

    def post_signed(self, xml: bytes) -> str:
        root = etree.fromstring(xml)
        self.sign(root)
        return self.encode(root)


def clone(element: etree._Element) -> etree._Element:
    return copy.deepcopy(element)
