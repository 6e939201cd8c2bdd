"""Build SAML requests and check the sandbox's signatures with python-xmlsec."""

from __future__ import annotations

import base64
import secrets
import zlib
from datetime import UTC, datetime

import xmlsec
from lxml import etree

SP_ENTITY_ID = "http://127.0.0.1:5000/auth/saml/metadata"
SP_ACS = "http://127.0.0.1:5000/auth/saml/acs"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}


def authn_request(
    destination: str,
    *,
    issuer: str = SP_ENTITY_ID,
    acs: str | None = SP_ACS,
    name_id_format: str | None = None,
    is_passive: bool = False,
) -> tuple[str, bytes]:
    """An AuthnRequest; returns (ID, XML)."""
    request_id = f"_{secrets.token_hex(12)}"
    acs_attr = f' AssertionConsumerServiceURL="{acs}"' if acs else ""
    passive = ' IsPassive="true"' if is_passive else ""
    policy = f'<samlp:NameIDPolicy Format="{name_id_format}"/>' if name_id_format else ""
    xml = (
        f'<samlp:AuthnRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
        f'ID="{request_id}" Version="2.0" '
        f'IssueInstant="{datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}" '
        f'Destination="{destination}"{acs_attr}{passive} '
        f'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
        f"<saml:Issuer>{issuer}</saml:Issuer>{policy}</samlp:AuthnRequest>"
    )
    return request_id, xml.encode()


def logout_request(destination: str, name_id: str, *, issuer: str = SP_ENTITY_ID) -> bytes:
    """A LogoutRequest from the SP."""
    return (
        f'<samlp:LogoutRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" '
        f'ID="_{secrets.token_hex(12)}" Version="2.0" '
        f'IssueInstant="{datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}" '
        f'Destination="{destination}"><saml:Issuer>{issuer}</saml:Issuer>'
        f"<saml:NameID>{name_id}</saml:NameID></samlp:LogoutRequest>"
    ).encode()


def redirect_encode(xml: bytes) -> str:
    """DEFLATE + base64 for the HTTP-Redirect binding."""
    compressor = zlib.compressobj(wbits=-15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def idp_certificate(metadata: bytes) -> str:
    """The signing certificate (base64 DER) from IdP metadata."""
    root = etree.fromstring(metadata)
    cert = root.findtext(".//md:KeyDescriptor[@use='signing']//ds:X509Certificate", namespaces=NS)
    assert cert
    return str(cert).strip()


def verify_signed(node: etree._Element, cert_b64: str) -> None:
    """Verify the enveloped signature directly under ``node`` with the IdP certificate."""
    signature = node.find("ds:Signature", NS)
    assert signature is not None, f"{node.tag} is not signed"
    pem = "-----BEGIN CERTIFICATE-----\n" + cert_b64 + "\n-----END CERTIFICATE-----\n"
    key = xmlsec.Key.from_memory(pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
    ctx = xmlsec.SignatureContext()
    ctx.key = key
    ctx.register_id(node, "ID")
    ctx.verify(signature)
    method = signature.find("ds:SignedInfo/ds:SignatureMethod", NS)
    assert method is not None
    assert method.get("Algorithm") == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
