"""Encrypted assertions: AES-GCM by default, and no decryption oracle before a signature."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree
from xmlsec import constants as C

from rpkit.errors import SamlResponseError
from rpkit.saml import PendingRequest, ServiceProvider, _xmlsec
from rpkit.saml._gate import NS

from .idp import NOW, TestIdp, q


def _encrypt(response: etree._Element, cert_pem: bytes, algorithm: Any = None) -> None:
    """Wrap the response's assertion in an EncryptedAssertion encrypted for ``cert_pem``."""
    assertion = TestIdp.assertion_of(response)
    wrapper = etree.Element(q("saml", "EncryptedAssertion"))
    assertion.addprevious(wrapper)
    wrapper.append(assertion)
    if algorithm is None:
        _xmlsec.encrypt_element(assertion, cert_pem)
    else:
        _xmlsec.encrypt_element(assertion, cert_pem, algorithm=algorithm)


def _cipher_value(response: etree._Element) -> etree._Element:
    found = response.find(
        "saml:EncryptedAssertion/xenc:EncryptedData/xenc:CipherData/xenc:CipherValue", NS
    )
    assert found is not None and found.text
    return found


def _tampered(idp: TestIdp, attacker: TestIdp, sp_cert: bytes) -> etree._Element:
    response = idp.build_response()
    idp.sign(idp.assertion_of(response))
    _encrypt(response, sp_cert)
    value = _cipher_value(response)
    raw = bytearray(base64.b64decode(value.text or ""))
    raw[len(raw) // 2] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()
    return response


def _for_another_sp(idp: TestIdp, attacker: TestIdp, sp_cert: bytes) -> etree._Element:
    response = idp.build_response()
    idp.sign(idp.assertion_of(response))
    _encrypt(response, attacker.cert_pem)
    return response


def _not_an_assertion(idp: TestIdp, attacker: TestIdp, sp_cert: bytes) -> etree._Element:
    response = idp.build_response()
    assertion = idp.assertion_of(response)
    impostor = etree.Element(q("saml", "Issuer"))
    impostor.text = idp.entity_id
    assertion.addprevious(impostor)
    response.remove(assertion)
    wrapper = etree.Element(q("saml", "EncryptedAssertion"))
    impostor.addprevious(wrapper)
    wrapper.append(impostor)
    _xmlsec.encrypt_element(impostor, sp_cert)
    return response


def _unsigned_inside(idp: TestIdp, attacker: TestIdp, sp_cert: bytes) -> etree._Element:
    response = idp.build_response()
    _encrypt(response, sp_cert)
    return response


def _signed_by_attacker(idp: TestIdp, attacker: TestIdp, sp_cert: bytes) -> etree._Element:
    response = idp.build_response()
    attacker.sign(idp.assertion_of(response))
    _encrypt(response, sp_cert)
    return response


def _altered_after_signing(idp: TestIdp, attacker: TestIdp, sp_cert: bytes) -> etree._Element:
    response = idp.build_response()
    assertion = idp.assertion_of(response)
    idp.sign(assertion)
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert name_id is not None
    name_id.text = "crew-0001-admin"
    _encrypt(response, sp_cert)
    return response


ORACLE_PROBES: list[tuple[str, Callable[[TestIdp, TestIdp, bytes], etree._Element], str]] = [
    ("tampered_ciphertext", _tampered, "decryption"),
    ("encrypted_for_another_key", _for_another_sp, "decryption"),
    ("plaintext_not_an_assertion", _not_an_assertion, "malformed"),
    ("assertion_unsigned", _unsigned_inside, "signature"),
    ("assertion_signed_by_attacker", _signed_by_attacker, "signature"),
    ("assertion_altered_after_signing", _altered_after_signing, "signature"),
]


@pytest.mark.parametrize(
    ("build", "detail"),
    [(b, d) for _, b, d in ORACLE_PROBES],
    ids=[i for i, _, _ in ORACLE_PROBES],
)
def test_every_failure_under_an_unsigned_response_is_one_reason(
    idp: TestIdp,
    attacker: TestIdp,
    sp: ServiceProvider,
    pending: PendingRequest,
    sp_cert_pem: bytes,
    caplog: pytest.LogCaptureFixture,
    build: Callable[[TestIdp, TestIdp, bytes], etree._Element],
    detail: str,
) -> None:
    """Decryption, parsing and signature failures look alike to the sender; the log tells."""
    response = build(idp, attacker, sp_cert_pem)
    with caplog.at_level("WARNING", logger="rpkit.saml"), pytest.raises(SamlResponseError) as exc:
        sp.process_response(idp.encode(response), pending.relay_state, expected=pending, now=NOW)
    assert exc.value.reason == "decryption"
    assert str(exc.value) == "SAML response: the encrypted assertion was refused (see the log)"
    assert f"refused ({detail})" in caplog.text


def _cbc_response(idp: TestIdp, sp_cert: bytes, *, sign_response: bool) -> str:
    response = idp.build_response()
    if not sign_response:
        idp.sign(idp.assertion_of(response))
    _encrypt(response, sp_cert, algorithm=C.TransformAes256Cbc)
    if sign_response:
        idp.sign(response)
    return idp.encode(response)


def test_aes_cbc_is_refused_by_default(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest, sp_cert_pem: bytes
) -> None:
    """AES-CBC, even under a signed Response, fails as "algorithm" without the switch."""
    with pytest.raises(SamlResponseError) as exc:
        sp.process_response(
            _cbc_response(idp, sp_cert_pem, sign_response=True),
            pending.relay_state,
            expected=pending,
            now=NOW,
        )
    assert exc.value.reason == "algorithm"
    assert "RPKIT_SAML_ALLOW_AES_CBC" in exc.value.message


def test_allow_aes_cbc_accepts_it_under_a_signed_response(
    idp: TestIdp,
    make_sp: Callable[..., ServiceProvider],
    pending: PendingRequest,
    sp_cert_pem: bytes,
) -> None:
    """With allow_aes_cbc, a CBC assertion inside a verified Response signature is accepted."""
    sp = make_sp(allow_aes_cbc=True)
    identity = sp.process_response(
        _cbc_response(idp, sp_cert_pem, sign_response=True),
        pending.relay_state,
        expected=pending,
        now=NOW,
    )
    assert identity.rank == "Chief Officer"


def test_allow_aes_cbc_still_refuses_it_under_an_unsigned_response(
    idp: TestIdp,
    make_sp: Callable[..., ServiceProvider],
    pending: PendingRequest,
    sp_cert_pem: bytes,
) -> None:
    """Unauthenticated CBC ciphertext is never decrypted: "algorithm", before any decryption."""
    sp = make_sp(allow_aes_cbc=True)
    with pytest.raises(SamlResponseError) as exc:
        sp.process_response(
            _cbc_response(idp, sp_cert_pem, sign_response=False),
            pending.relay_state,
            expected=pending,
            now=NOW,
        )
    assert exc.value.reason == "algorithm"


@pytest.mark.parametrize("algorithm", [C.TransformAes128Gcm, C.TransformAes256Gcm])
def test_aes_gcm_is_accepted_under_an_unsigned_response(
    idp: TestIdp,
    sp: ServiceProvider,
    pending: PendingRequest,
    sp_cert_pem: bytes,
    algorithm: Any,
) -> None:
    """The default: AES-GCM with the assertion signed inside the encryption."""
    response = idp.build_response()
    idp.sign(idp.assertion_of(response))
    _encrypt(response, sp_cert_pem, algorithm=algorithm)
    identity = sp.process_response(
        idp.encode(response), pending.relay_state, expected=pending, now=NOW
    )
    assert identity.subject == "crew-4711"
