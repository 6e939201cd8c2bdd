"""In-process XML signatures and decryption with the ``xmlsec`` wheel (bundled libxmlsec1).

No ``xmlsec1`` binary is ever spawned. Keys come only from the caller (IdP metadata, SP
configuration): a key or certificate inside the message's ``KeyInfo`` is never used,
because a preset signing key makes libxmlsec1 skip KeyInfo resolution.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from xmlsec import constants as C

from ..errors import SamlResponseError
from ._gate import EXC_C14N, NS, qname

__all__ = [
    "RSA_SHA256",
    "SigningKey",
    "decrypt_element",
    "encrypt_element",
    "load_verify_key",
    "sign_binary",
    "sign_enveloped",
    "verify_binary",
    "verify_enveloped",
]

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

_SIGN_TRANSFORMS = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": C.TransformRsaSha1,
    RSA_SHA256: C.TransformRsaSha256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": C.TransformRsaSha384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": C.TransformRsaSha512,
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": C.TransformEcdsaSha256,
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": C.TransformEcdsaSha384,
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": C.TransformEcdsaSha512,
}
_DIGEST_TRANSFORMS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": C.TransformSha1,
    "http://www.w3.org/2001/04/xmlenc#sha256": C.TransformSha256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": C.TransformSha384,
    "http://www.w3.org/2001/04/xmlenc#sha512": C.TransformSha512,
}
_C14N_TRANSFORMS = {
    EXC_C14N: C.TransformExclC14N,
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": C.TransformInclC14N,
}


@functools.lru_cache(maxsize=64)
def load_verify_key(cert_pem: bytes) -> xmlsec.Key:
    """Load the public key of a PEM certificate for verifying (cached per certificate).

    Only the public key is loaded: ``SignatureContext.key = key`` duplicates the key, and a
    key loaded with its certificate duplicates the certificate too (about 100 times the
    cost). Verification with a preset key never reads the certificate.
    """
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
        public_pem = certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return xmlsec.Key.from_memory(public_pem, C.KeyDataFormatPem, None)
    except (ValueError, TypeError, xmlsec.Error) as err:
        raise ValueError("not a PEM certificate") from err


class SigningKey:
    """A private key and its certificate, loaded once, for signing and decrypting."""

    def __init__(self, key_pem: bytes, cert_pem: bytes) -> None:
        self.key_pem = key_pem
        self.cert_pem = cert_pem
        self._key = xmlsec.Key.from_memory(key_pem, C.KeyDataFormatPem, None)
        self._key.load_cert_from_memory(cert_pem, C.KeyDataFormatCertPem)

    def key(self) -> xmlsec.Key:
        return self._key

    def __repr__(self) -> str:
        return "SigningKey(<redacted>)"


_K = TypeVar("_K")


def _with_any_key(
    keys: Sequence[_K], attempt: Callable[[_K], None], reason: str, message: str
) -> None:
    """Run ``attempt`` with each key until one works; libxmlsec1 raises on a wrong key.

    Raises ``SamlResponseError(reason)`` when none works (errors ``attempt`` raises itself,
    such as a duplicate ID, go through at once).
    """
    for key in keys:
        try:
            attempt(key)
        except xmlsec.Error:
            continue
        return
    raise SamlResponseError(reason, message)


def verify_enveloped(
    signed: etree._Element,
    sig: etree._Element,
    keys: Sequence[xmlsec.Key],
    *,
    algorithms: tuple[str, str, str],
    what: str,
) -> None:
    """Verify ``sig`` (already shape-checked by the gate) over ``signed`` with one of ``keys``.

    ``algorithms`` is (canonicalization, signature, digest) as the gate approved them; only
    those and the enveloped transform are enabled, so libxmlsec1 refuses anything else
    (XPath, XSLT, base64 transforms) even if the gate missed it.
    Raises ``SamlResponseError("signature")`` when no key verifies it.
    """
    if not keys:
        raise SamlResponseError("signature", f"{what}: the IdP metadata has no signing key")
    c14n, method, digest = algorithms
    try:
        c14n_transform = _C14N_TRANSFORMS[c14n]
        sign_transform = _SIGN_TRANSFORMS[method]
        digest_transform = _DIGEST_TRANSFORMS[digest]
    except KeyError as err:
        raise SamlResponseError("algorithm", f"{what} uses an unsupported algorithm") from err

    def verify(key: xmlsec.Key) -> None:
        ctx = xmlsec.SignatureContext()
        try:
            ctx.register_id(signed, "ID")
        except xmlsec.Error as err:
            raise SamlResponseError("wrapping", f"{what} ID is not unique") from err
        ctx.enable_reference_transform(C.TransformEnveloped)
        ctx.enable_reference_transform(C.TransformExclC14N)
        ctx.enable_reference_transform(digest_transform)
        ctx.enable_signature_transform(c14n_transform)
        ctx.enable_signature_transform(sign_transform)
        ctx.key = key
        ctx.verify(sig)

    _with_any_key(keys, verify, "signature", f"{what} signature did not verify with the IdP keys")


def sign_enveloped(
    element: etree._Element,
    signing_key: SigningKey,
    *,
    algorithm: str = RSA_SHA256,
    digest: str = "http://www.w3.org/2001/04/xmlenc#sha256",
) -> None:
    """Add an enveloped signature to ``element`` (after its Issuer, SAML Core §5.4.1)."""
    element_id = element.get("ID")
    if not element_id:
        element_id = "_" + uuid.uuid4().hex
        element.set("ID", element_id)
    sig = xmlsec.template.create(element, C.TransformExclC14N, _SIGN_TRANSFORMS[algorithm], ns="ds")
    issuer = element.find("saml:Issuer", NS)
    if issuer is not None:
        issuer.addnext(sig)
    else:
        element.insert(0, sig)
    ref = xmlsec.template.add_reference(sig, _DIGEST_TRANSFORMS[digest], uri="#" + element_id)
    xmlsec.template.add_transform(ref, C.TransformEnveloped)
    xmlsec.template.add_transform(ref, C.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(sig)
    xmlsec.template.add_x509_data(key_info)
    ctx = xmlsec.SignatureContext()
    ctx.register_id(element, "ID")
    ctx.key = signing_key.key()
    ctx.sign(sig)


def sign_binary(data: bytes, signing_key: SigningKey, algorithm: str = RSA_SHA256) -> bytes:
    """Sign raw bytes (the HTTP-Redirect binding's query string, SAML Bindings §3.4.4.1)."""
    ctx = xmlsec.SignatureContext()
    ctx.key = signing_key.key()
    return bytes(ctx.sign_binary(data, _SIGN_TRANSFORMS[algorithm]))


def verify_binary(
    data: bytes, signature: bytes, keys: Sequence[xmlsec.Key], algorithm: str, *, what: str
) -> None:
    """Verify a detached signature over raw bytes with one of ``keys``."""
    transform = _SIGN_TRANSFORMS.get(algorithm)
    if transform is None:
        raise SamlResponseError("algorithm", f"{what} SigAlg {algorithm!r} is not allowed")

    def verify(key: xmlsec.Key) -> None:
        ctx = xmlsec.SignatureContext()
        ctx.key = key
        ctx.verify_binary(data, transform, signature)

    _with_any_key(keys, verify, "signature", f"{what} signature did not verify with the IdP keys")


def decrypt_element(encrypted: etree._Element, keys: Sequence[SigningKey], *, what: str) -> None:
    """Decrypt the ``xenc:EncryptedData`` inside ``encrypted`` in place with an SP key."""
    data = encrypted.find("xenc:EncryptedData", NS)
    if data is None or not keys:
        raise SamlResponseError("decryption", f"{what} cannot be decrypted: no SP key or data")
    # Shibboleth-style: the EncryptedKey is a sibling of EncryptedData, referenced by a
    # RetrievalMethod. Move it into EncryptedData's KeyInfo, where libxmlsec1 looks.
    sibling_keys = encrypted.findall("xenc:EncryptedKey", NS)
    if sibling_keys:
        key_info = data.find("ds:KeyInfo", NS)
        if key_info is None:
            key_info = etree.SubElement(data, qname("ds", "KeyInfo"))
        for retrieval in key_info.findall("ds:RetrievalMethod", NS):
            key_info.remove(retrieval)
        for enc_key in sibling_keys:
            key_info.append(enc_key)

    def decrypt(signing_key: SigningKey) -> None:
        manager = xmlsec.KeysManager()
        manager.add_key(signing_key.key())
        xmlsec.EncryptionContext(manager).decrypt(data)

    _with_any_key(keys, decrypt, "decryption", f"{what} did not decrypt with the SP key")


def encrypt_element(
    element: etree._Element,
    cert_pem: bytes,
    *,
    algorithm: Any = C.TransformAes256Gcm,
    key_transport: Any = C.TransformRsaOaep,
) -> etree._Element:
    """Encrypt ``element`` for ``cert_pem`` (RSA-OAEP + AES) and return the EncryptedData.

    The element is replaced in its tree by the EncryptedData; used by test IdPs.
    """
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(cert_pem, C.KeyDataFormatCertPem, None))
    template = xmlsec.template.encrypted_data_create(
        element.getroottree().getroot(),
        algorithm,
        type=C.TypeEncElement,
        ns="xenc",
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    enc_key = xmlsec.template.add_encrypted_key(key_info, key_transport)
    xmlsec.template.encrypted_data_ensure_cipher_value(enc_key)
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(C.KeyDataAes, 256, C.KeyDataTypeSession)
    return ctx.encrypt_xml(template, element)


def cert_der_b64(cert_pem: bytes) -> str:
    """The base64 DER body of a PEM certificate, as metadata ``X509Certificate`` carries it."""
    lines = [ln.strip() for ln in cert_pem.decode("ascii").splitlines()]
    return "".join(ln for ln in lines if ln and not ln.startswith("-----"))


def signature_of(element: etree._Element) -> etree._Element | None:
    return element.find(qname("ds", "Signature"))
