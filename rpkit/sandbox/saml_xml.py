"""SAML 2.0 messages: decode bindings, read requests, build and sign responses in-process.

Signing uses python-xmlsec (libxmlsec1 linked in-process); the ``xmlsec1`` binary is never
run. Enveloped RSA-SHA256 signatures with exclusive C14N (SAML Core §5.4).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import xmlsec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from .keys import SamlKeyPair
from .saml_sp import BINDING_POST, BINDING_REDIRECT, MD, SamlMetadataError, parse_xml

__all__ = [
    "NAME_ID_FORMATS",
    "SamlRequest",
    "build_logout_request",
    "build_logout_response",
    "build_metadata",
    "build_response",
    "decode_message",
    "read_request",
    "redirect_query",
]

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"samlp": SAMLP, "saml": SAML}
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
NAME_ID_FORMATS = {
    "unspecified": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    "emailAddress": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
_MAX_MESSAGE = 256 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class SamlRequest:
    """What the sandbox reads from an incoming SAML protocol message."""

    kind: str  # "AuthnRequest", "LogoutRequest" or "LogoutResponse"
    id: str
    issuer: str | None
    destination: str | None
    acs_url: str | None = None
    name_id_format: str | None = None
    force_authn: bool = False
    is_passive: bool = False
    name_id: str | None = None
    session_index: str | None = None
    in_response_to: str | None = None


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id() -> str:
    return f"_{secrets.token_hex(20)}"


def decode_message(value: str, binding: str) -> bytes:
    """Decode a ``SAMLRequest``/``SAMLResponse`` parameter (base64, deflated for Redirect)."""
    if len(value) > _MAX_MESSAGE:
        raise SamlMetadataError("the SAML message is too large")
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as err:
        raise SamlMetadataError("the SAML message is not base64") from err
    if binding == BINDING_REDIRECT:
        try:
            inflater = zlib.decompressobj(-15)
            raw = inflater.decompress(raw, _MAX_MESSAGE)
        except zlib.error as err:
            raise SamlMetadataError("the SAML message is not DEFLATE-compressed") from err
    return raw


def read_request(data: bytes) -> SamlRequest:
    """Read an AuthnRequest, LogoutRequest or LogoutResponse."""
    root = parse_xml(data)
    kinds = {f"{{{SAMLP}}}{k}": k for k in ("AuthnRequest", "LogoutRequest", "LogoutResponse")}
    kind = kinds.get(root.tag)
    if kind is None:
        raise SamlMetadataError("the message is not an AuthnRequest or logout message")
    if root.get("Version") != "2.0" or not root.get("ID"):
        raise SamlMetadataError("the message needs Version=2.0 and an ID")
    issuer = root.findtext(f"{{{SAML}}}Issuer")
    policy = root.find(f"{{{SAMLP}}}NameIDPolicy")
    name_id = root.find(f"{{{SAML}}}NameID")
    return SamlRequest(
        kind=kind,
        id=str(root.get("ID")),
        issuer=issuer.strip() if issuer else None,
        destination=root.get("Destination"),
        acs_url=root.get("AssertionConsumerServiceURL"),
        name_id_format=policy.get("Format") if policy is not None else None,
        force_authn=root.get("ForceAuthn") in ("true", "1"),
        is_passive=root.get("IsPassive") in ("true", "1"),
        name_id=name_id.text if name_id is not None else None,
        session_index=root.findtext(f"{{{SAMLP}}}SessionIndex"),
        in_response_to=root.get("InResponseTo"),
    )


def _sign(node: etree._Element, keys: SamlKeyPair) -> None:
    """Add an enveloped RSA-SHA256 signature to ``node`` right after its Issuer."""
    signature = xmlsec.template.create(
        node, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    issuer = node.find(f"{{{SAML}}}Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        node.insert(0, signature)
    ref = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri=f"#{node.get('ID')}"
    )
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))
    key = xmlsec.Key.from_memory(keys.key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(keys.cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    ctx = xmlsec.SignatureContext()
    ctx.key = key
    ctx.register_id(node, "ID")
    ctx.sign(signature)


def _sub(
    parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str
) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{tag}", {k: v for k, v in attrs.items() if v})
    if text is not None:
        el.text = text
    return el


def build_metadata(
    *,
    entity_id: str,
    sso_url: str,
    slo_url: str,
    certs: list[str],
    valid_until: datetime,
    cache_duration: str,
) -> bytes:
    """IdP metadata (SAML Metadata §2.4.3) with entity ID ``<base>/auth``.

    ``certs`` (base64 DER, the signer first) are all listed for signing, as during a key
    rotation. ``WantAuthnRequestsSigned="true"`` as RSK's default.
    """
    root = etree.Element(
        f"{{{MD}}}EntityDescriptor",
        nsmap={"md": MD, "ds": DS},
        entityID=entity_id,
        validUntil=_instant(valid_until),
        cacheDuration=cache_duration,
    )
    idp = _sub(
        root,
        MD,
        "IDPSSODescriptor",
        WantAuthnRequestsSigned="true",
        protocolSupportEnumeration=SAMLP,
    )
    for cert in certs:
        descriptor = _sub(idp, MD, "KeyDescriptor", use="signing")
        key_info = _sub(descriptor, DS, "KeyInfo")
        _sub(_sub(key_info, DS, "X509Data"), DS, "X509Certificate", cert)
    for binding in (BINDING_REDIRECT, BINDING_POST):
        _sub(idp, MD, "SingleLogoutService", Binding=binding, Location=slo_url)
    for fmt in NAME_ID_FORMATS.values():
        _sub(idp, MD, "NameIDFormat", fmt)
    for binding in (BINDING_REDIRECT, BINDING_POST):
        _sub(idp, MD, "SingleSignOnService", Binding=binding, Location=sso_url)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Assertion:
    """What goes into one assertion."""

    audience: str
    name_id: str
    name_id_format: str
    session_index: str
    attributes: list[tuple[str, str]]  # (Name, value), from claims.saml_attributes


def _protocol_message(tag: str, *, issuer: str, destination: str, now: datetime) -> etree._Element:
    """A samlp message with its ID, version, instant, destination and Issuer."""
    root = etree.Element(
        f"{{{SAMLP}}}{tag}",
        nsmap=NSMAP,
        ID=_new_id(),
        Version="2.0",
        IssueInstant=_instant(now),
        Destination=destination,
    )
    _sub(root, SAML, "Issuer", issuer)
    return root


def build_response(
    *,
    issuer: str,
    destination: str,
    in_response_to: str | None,
    now: datetime,
    keys: SamlKeyPair,
    assertion: Assertion | None,
    status: str = STATUS_SUCCESS,
    sub_status: str | None = None,
    message: str | None = None,
) -> bytes:
    """A signed Response; on success it carries one signed assertion (SAML Core §3.3.3)."""
    response = _protocol_message("Response", issuer=issuer, destination=destination, now=now)
    if in_response_to:
        response.set("InResponseTo", in_response_to)
    status_el = _sub(response, SAMLP, "Status")
    code = _sub(status_el, SAMLP, "StatusCode", Value=status)
    if sub_status:
        _sub(code, SAMLP, "StatusCode", Value=sub_status)
    if message:
        _sub(status_el, SAMLP, "StatusMessage", message)
    if assertion is not None:
        _assertion(response, issuer, destination, in_response_to, now, keys, assertion)
    _sign(response, keys)
    return bytes(etree.tostring(response, xml_declaration=True, encoding="UTF-8"))


def _assertion(
    parent: etree._Element,
    issuer: str,
    destination: str,
    in_response_to: str | None,
    now: datetime,
    keys: SamlKeyPair,
    data: Assertion,
) -> None:
    node = _sub(parent, SAML, "Assertion", ID=_new_id(), Version="2.0", IssueInstant=_instant(now))
    _sub(node, SAML, "Issuer", issuer)
    subject = _sub(node, SAML, "Subject")
    _sub(
        subject,
        SAML,
        "NameID",
        data.name_id,
        Format=data.name_id_format,
        SPNameQualifier=data.audience,
        NameQualifier=issuer,
    )
    confirmation = _sub(
        subject, SAML, "SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"
    )
    _sub(
        confirmation,
        SAML,
        "SubjectConfirmationData",
        Recipient=destination,
        NotOnOrAfter=_instant(now + timedelta(minutes=5)),
        InResponseTo=in_response_to or "",
    )
    conditions = _sub(
        node,
        SAML,
        "Conditions",
        NotBefore=_instant(now - timedelta(minutes=1)),
        NotOnOrAfter=_instant(now + timedelta(minutes=5)),
    )
    _sub(_sub(conditions, SAML, "AudienceRestriction"), SAML, "Audience", data.audience)
    authn = _sub(
        node,
        SAML,
        "AuthnStatement",
        AuthnInstant=_instant(now),
        SessionIndex=data.session_index,
        SessionNotOnOrAfter=_instant(now + timedelta(hours=8)),
    )
    _sub(
        _sub(authn, SAML, "AuthnContext"),
        SAML,
        "AuthnContextClassRef",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
    )
    if data.attributes:
        statement = _sub(node, SAML, "AttributeStatement")
    for name, value in data.attributes:
        # No FriendlyName: RSK sends none, so an SP must match on Name.
        name_format = "uri" if name.startswith(("http:", "https:", "urn:")) else "basic"
        attribute = _sub(
            statement,
            SAML,
            "Attribute",
            Name=name,
            NameFormat=f"urn:oasis:names:tc:SAML:2.0:attrname-format:{name_format}",
        )
        el = etree.SubElement(attribute, f"{{{SAML}}}AttributeValue", nsmap={"xs": XS, "xsi": XSI})
        el.set(f"{{{XSI}}}type", "xs:string")
        el.text = value
    _sign(node, keys)


def build_logout_request(
    *,
    issuer: str,
    destination: str,
    name_id: str,
    name_id_format: str,
    session_index: str | None,
    now: datetime,
    keys: SamlKeyPair,
) -> bytes:
    """A signed LogoutRequest for IdP-initiated logout (SAML Core §3.7.1).

    Without ``session_index`` it asks the SP to end every session of the principal.
    """
    root = _protocol_message("LogoutRequest", issuer=issuer, destination=destination, now=now)
    root.set("NotOnOrAfter", _instant(now + timedelta(minutes=5)))
    _sub(root, SAML, "NameID", name_id, Format=name_id_format)
    if session_index is not None:
        _sub(root, SAMLP, "SessionIndex", session_index)
    _sign(root, keys)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def build_logout_response(
    *, issuer: str, destination: str, in_response_to: str, now: datetime, keys: SamlKeyPair
) -> bytes:
    """A signed, successful LogoutResponse (SAML Core §3.7.2)."""
    root = _protocol_message("LogoutResponse", issuer=issuer, destination=destination, now=now)
    root.set("InResponseTo", in_response_to)
    _sub(_sub(root, SAMLP, "Status"), SAMLP, "StatusCode", Value=STATUS_SUCCESS)
    _sign(root, keys)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def redirect_query(param: str, message: bytes, relay_state: str | None, keys: SamlKeyPair) -> str:
    """Encode for the HTTP-Redirect binding with a detached RSA-SHA256 signature (§3.4.4.1)."""
    compressor = zlib.compressobj(wbits=-15)
    deflated = compressor.compress(message) + compressor.flush()
    params = [(param, base64.b64encode(deflated).decode())]
    if relay_state:
        params.append(("RelayState", relay_state))
    params.append(("SigAlg", RSA_SHA256))
    signed = urlencode(params).encode()
    key = serialization.load_pem_private_key(keys.key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    return urlencode([*params, ("Signature", base64.b64encode(signature).decode())])
