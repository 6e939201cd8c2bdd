"""Build SAML requests and check the sandbox's signatures with python-xmlsec."""

from __future__ import annotations

import base64
import secrets
import zlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import xmlsec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from rpkit.sandbox.config import SamlServiceProviderConfig

ROOT = Path(__file__).resolve().parents[2]
SP_KEY = ROOT / "certs" / "demo-sp.key"  # throwaway demo pair, registered below
SP_CERT = ROOT / "certs" / "demo-sp.crt"
SP_ENTITY_ID = "http://127.0.0.1:5000/auth/saml/metadata"
SP_ACS = "http://127.0.0.1:5000/auth/saml/acs"
SP_SLO = "http://127.0.0.1:5000/auth/saml/slo"
SHORT_SP = "http://127.0.0.1:5000/short-names"  # attribute_names="short"
UNSIGNED_SP = "http://127.0.0.1:5000/unsigned"  # require_signed_requests=False
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"

SERVICE_PROVIDERS = (
    SamlServiceProviderConfig(
        entity_id=SP_ENTITY_ID,
        acs_urls=(SP_ACS,),
        slo_urls=(SP_SLO,),
        signing_cert_file=str(SP_CERT),
    ),
    SamlServiceProviderConfig(
        entity_id=SHORT_SP,
        acs_urls=(SP_ACS,),
        signing_cert_file=str(SP_CERT),
        attribute_names="short",
    ),
    SamlServiceProviderConfig(
        entity_id=UNSIGNED_SP, acs_urls=(SP_ACS,), require_signed_requests=False
    ),
)
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


def _private_key(key_pem: bytes | None) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(key_pem or SP_KEY.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def signed_query(
    xml: bytes,
    *,
    param: str = "SAMLRequest",
    relay_state: str | None = None,
    sig_alg: str = RSA_SHA256,
    key_pem: bytes | None = None,
) -> str:
    """An HTTP-Redirect query signed as SAML Bindings §3.4.4.1 says (demo SP key default)."""
    parts = [f"{param}={quote(redirect_encode(xml), safe='')}"]
    if relay_state is not None:
        parts.append(f"RelayState={quote(relay_state, safe='')}")
    parts.append(f"SigAlg={quote(sig_alg, safe='')}")
    digest = hashes.SHA1() if sig_alg == RSA_SHA1 else hashes.SHA256()
    signature = _private_key(key_pem).sign("&".join(parts).encode(), padding.PKCS1v15(), digest)
    parts.append(f"Signature={quote(base64.b64encode(signature).decode(), safe='')}")
    return "&".join(parts)


def sign_enveloped(xml: bytes, *, key_pem: bytes | None = None) -> bytes:
    """The message with an enveloped RSA-SHA256 signature after its Issuer (HTTP-POST)."""
    root = etree.fromstring(xml)
    signature = xmlsec.template.create(
        root, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    root.insert(1, signature)
    ref = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri=f"#{root.get('ID')}"
    )
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(
        key_pem or SP_KEY.read_bytes(), xmlsec.constants.KeyDataFormatPem
    )
    ctx.register_id(root, "ID")
    ctx.sign(signature)
    return bytes(etree.tostring(root))


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
