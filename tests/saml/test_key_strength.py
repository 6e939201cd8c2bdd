"""Weak IdP signing certificates are dropped from metadata; a response signed by one says so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from rpkit.errors import SamlResponseError
from rpkit.saml import PendingRequest, SamlConfig, ServiceProvider, load_idp_metadata
from rpkit.saml._xmlsec import SigningKey, cert_der_b64

from .idp import NOW, TestIdp


def _key_pair(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, name: str) -> SigningKey:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
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
    return SigningKey(key_pem, cert.public_bytes(serialization.Encoding.PEM))


def _weak_idp(idp: TestIdp) -> TestIdp:
    """The same IdP entity, but its only signing key is RSA-1024."""
    weak = TestIdp(idp.entity_id)
    signing = _key_pair(rsa.generate_private_key(public_exponent=65537, key_size=1024), "old IdP")
    weak.key_pem, weak.cert_pem, weak.signing_key = signing.key_pem, signing.cert_pem, signing
    return weak


def _sp(make_config: Callable[..., SamlConfig], metadata: bytes, entity_id: str) -> ServiceProvider:
    loaded = load_idp_metadata(metadata, entity_id=entity_id, now=NOW)
    return ServiceProvider(make_config(), metadata=loaded, clock=lambda: NOW)


@pytest.mark.parametrize(
    ("make_key", "why"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "1024 bits"),
        (lambda: ec.generate_private_key(ec.SECP256K1()), "secp256k1"),
        (lambda: ec.generate_private_key(ec.SECP192R1()), "secp192r1"),
    ],
    ids=["rsa_1024", "ec_secp256k1", "ec_p192"],
)
def test_weak_metadata_certificates_are_dropped_with_a_warning(
    idp: TestIdp, make_key: Callable[[], Any], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the strong certificate is used to verify; the log names the dropped one."""
    weak = _key_pair(make_key(), "retired IdP key")
    xml = idp.metadata().replace(
        b"<md:KeyDescriptor",
        b'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        + _der_b64(weak.cert_pem)
        + b"</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:KeyDescriptor",
        1,
    )
    with caplog.at_level("WARNING", logger="rpkit.saml"):
        metadata = load_idp_metadata(xml, entity_id=idp.entity_id, now=NOW)
    assert [_der_b64(c) for c in metadata.signing_certs] == [_der_b64(idp.cert_pem)]
    assert [_der_b64(c) for c in metadata.weak_certs] == [_der_b64(weak.cert_pem)]
    assert "retired IdP key" in caplog.text and why in caplog.text


def test_p256_certificates_are_kept(idp: TestIdp) -> None:
    """An EC P-256 signing certificate is as good as RSA-2048."""
    strong = _key_pair(ec.generate_private_key(ec.SECP256R1()), "EC IdP")
    metadata = load_idp_metadata(
        idp.metadata(cert_pem=strong.cert_pem), entity_id=idp.entity_id, now=NOW
    )
    assert len(metadata.signing_certs) == 1 and metadata.weak_certs == ()


def test_response_signed_by_a_1024_bit_key_fails_as_weak_key(
    idp: TestIdp, make_config: Callable[..., SamlConfig], pending: PendingRequest
) -> None:
    """Metadata whose only key is RSA-1024 loads, and every response it signs is weak_key."""
    weak = _weak_idp(idp)
    sp = _sp(make_config, weak.metadata(), weak.entity_id)
    with pytest.raises(SamlResponseError) as exc:
        sp.process_response(weak.signed_response(), pending.relay_state, expected=pending, now=NOW)
    assert exc.value.reason == "weak_key"
    with pytest.raises(SamlResponseError) as assertion_only:
        sp.process_response(
            weak.signed_response(response=False, assertion=True),
            pending.relay_state,
            expected=pending,
            now=NOW,
        )
    assert assertion_only.value.reason == "weak_key"


def test_a_forged_signature_beside_a_weak_key_is_still_signature(
    idp: TestIdp,
    attacker: TestIdp,
    make_config: Callable[..., SamlConfig],
    pending: PendingRequest,
) -> None:
    """weak_key is only said when the weak key really made the signature."""
    weak = _weak_idp(idp)
    sp = _sp(make_config, weak.metadata(), weak.entity_id)
    response = attacker.build_response()
    attacker.sign(response)
    with pytest.raises(SamlResponseError) as exc:
        sp.process_response(
            attacker.encode(response), pending.relay_state, expected=pending, now=NOW
        )
    assert exc.value.reason == "signature"


def _der_b64(cert_pem: bytes) -> bytes:
    return cert_der_b64(cert_pem).encode()
