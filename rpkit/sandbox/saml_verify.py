"""Check an SP's signature on an AuthnRequest or LogoutRequest, as RSK SAML2P does.

Rock Solid Knowledge's IdP wants signed requests by default (``WantAuthenticationRequests
Signed = true``) and checks them with the certificates registered for the SP. HTTP-Redirect:
``SigAlg`` and ``Signature`` over the query string exactly as it arrived (SAML Bindings
§3.4.4.1). HTTP-POST: an enveloped XML signature on the message root (SAML Core §5.4,
SAML Bindings §3.5.3). The key is always the SP's registered certificate, never one the
message carries. Written apart from rpkit's SP code on purpose, so the sandbox does not
share the client's assumptions.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from urllib.parse import unquote_plus

import xmlsec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

__all__ = ["RequestSignatureError", "verify_post", "verify_redirect"]

DS = "http://www.w3.org/2000/09/xmldsig#"
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
# RSA with SHA-2 only: SHA-1 signatures are forgeable (SHAttered), so they are refused.
SIGNATURE_ALGORITHMS: dict[str, hashes.HashAlgorithm] = {
    _MORE + "rsa-sha256": hashes.SHA256(),
    _MORE + "rsa-sha384": hashes.SHA384(),
    _MORE + "rsa-sha512": hashes.SHA512(),
}
DIGEST_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        _MORE + "sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)


class RequestSignatureError(ValueError):
    """The request's signature is missing or wrong; ``reason`` says which check failed.

    Reasons: ``unsigned``, ``sig_alg``, ``signature``, ``malformed``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _public_keys(certs: Sequence[bytes]) -> list[rsa.RSAPublicKey]:
    keys = []
    for pem in certs:
        key = x509.load_pem_x509_certificate(pem).public_key()
        if isinstance(key, rsa.RSAPublicKey):
            keys.append(key)
    return keys


def verify_redirect(query_string: str, param: str, certs: Sequence[bytes]) -> None:
    """Verify the detached signature of an HTTP-Redirect ``param`` message."""
    raw: dict[str, str] = {}
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")
        if name in (param, "RelayState", "SigAlg", "Signature"):
            if name in raw:
                raise RequestSignatureError("malformed", f"the query repeats {name}")
            raw[name] = value
    if "Signature" not in raw and "SigAlg" not in raw:
        raise RequestSignatureError("unsigned", "the request carries no SigAlg and Signature")
    if "Signature" not in raw or "SigAlg" not in raw:
        raise RequestSignatureError("malformed", "the request has SigAlg or Signature, not both")
    sig_alg = unquote_plus(raw["SigAlg"])
    digest = SIGNATURE_ALGORITHMS.get(sig_alg)
    if digest is None:
        raise RequestSignatureError(
            "sig_alg", f"SigAlg {sig_alg[:100]!r} is not RSA-SHA256, RSA-SHA384 or RSA-SHA512"
        )
    # The signed octets are the parameters as they arrived, in this order (§3.4.4.1).
    signed = f"{param}={raw[param]}"
    if "RelayState" in raw:
        signed += f"&RelayState={raw['RelayState']}"
    signed += f"&SigAlg={raw['SigAlg']}"
    try:
        signature = base64.b64decode(unquote_plus(raw["Signature"]), validate=True)
    except (binascii.Error, ValueError) as err:
        raise RequestSignatureError("malformed", "the Signature is not base64") from err
    for key in _public_keys(certs):
        try:
            key.verify(signature, signed.encode("ascii"), padding.PKCS1v15(), digest)
            return
        except InvalidSignature:
            continue
    raise RequestSignatureError(
        "signature", "the signature does not verify with the SP's registered certificate"
    )


def verify_post(root: etree._Element, certs: Sequence[bytes]) -> None:
    """Verify the enveloped signature on the root of an HTTP-POST message."""
    signatures = root.findall(f"{{{DS}}}Signature")
    if not signatures:
        raise RequestSignatureError("unsigned", "the request has no enveloped ds:Signature")
    if len(signatures) > 1:
        raise RequestSignatureError("malformed", "the request has several signatures")
    signature = signatures[0]
    references = signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != f"#{root.get('ID')}":
        raise RequestSignatureError("signature", "the signature does not cover the request")
    method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise RequestSignatureError(
            "sig_alg", f"SignatureMethod {str(algorithm)[:100]!r} is not RSA with SHA-2"
        )
    digest = references[0].find(f"{{{DS}}}DigestMethod")
    if digest is None or digest.get("Algorithm") not in DIGEST_ALGORITHMS:
        raise RequestSignatureError("sig_alg", "the DigestMethod is not SHA-2")
    for pem in certs:
        ctx = xmlsec.SignatureContext()
        ctx.key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem)
        ctx.register_id(root, "ID")
        try:
            ctx.verify(signature)
            return
        except xmlsec.Error:
            continue
    raise RequestSignatureError(
        "signature", "the signature does not verify with the SP's registered certificate"
    )
