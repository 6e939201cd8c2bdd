"""The hostile corpus: each vector is rejected with its reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from rpkit.errors import SamlResponseError
from rpkit.saml import PendingRequest, ServiceProvider

from .idp import NOW, TestIdp
from .vectors import VECTORS, Vector


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_vector_is_rejected_with_its_reason(
    vector: Vector,
    idp: TestIdp,
    attacker: TestIdp,
    sp: ServiceProvider,
    pending: PendingRequest,
) -> None:
    """The ACS raises SamlResponseError with the vector's reason."""
    case = vector.build(idp, attacker)
    expected = pending if case.solicited else None
    relay_state = pending.relay_state if case.solicited else None
    with pytest.raises(SamlResponseError) as info:
        sp.process_response(case.saml_response, relay_state, expected=expected, now=case.now)
    assert info.value.reason == vector.reason


def test_replayed_response_is_rejected(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest
) -> None:
    """The same assertion posted twice fails the second time with reason "replay"."""
    b64 = idp.signed_response()
    sp.process_response(b64, pending.relay_state, expected=pending, now=NOW)
    with pytest.raises(SamlResponseError) as info:
        sp.process_response(
            b64, pending.relay_state, expected=pending, now=NOW + timedelta(seconds=5)
        )
    assert info.value.reason == "replay"


def test_sha1_accepted_only_with_allow_sha1(
    idp: TestIdp, make_sp: Callable[..., ServiceProvider], pending: PendingRequest
) -> None:
    """allow_sha1 is the one switch that lets an RSA-SHA1 signature through."""
    sp = make_sp(allow_sha1=True)
    response = idp.build_response()
    idp.sign(
        response,
        algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        digest="http://www.w3.org/2000/09/xmldsig#sha1",
    )
    identity = sp.process_response(
        idp.encode(response), pending.relay_state, expected=pending, now=NOW
    )
    assert identity.subject == "crew-4711"


def test_relay_state_pointing_off_site_is_rejected(sp: ServiceProvider) -> None:
    """A RelayState that is a URL is not a pending-request key."""
    with pytest.raises(SamlResponseError) as info:
        sp.take_pending("https://evil.test/phish", browser_token="x")
    assert info.value.reason == "relay_state"


def test_relay_state_must_match_expected(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest
) -> None:
    """A RelayState other than the pending request's is refused before any parsing."""
    with pytest.raises(SamlResponseError) as info:
        sp.process_response(idp.signed_response(), "https://evil.test/", expected=pending, now=NOW)
    assert info.value.reason == "relay_state"


def test_no_subprocess_is_spawned_for_a_login(
    idp: TestIdp, sp: ServiceProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signatures are made and checked in-process: a login spawns no xmlsec1 (no process)."""
    import subprocess

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a subprocess was spawned")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    login = sp.start_login()
    rid = login.pending.request_id
    from .idp import ResponseSpec

    b64 = idp.signed_response(ResponseSpec(in_response_to=rid, scd_in_response_to=rid))
    identity, _ = sp.complete_login(
        b64, login.pending.relay_state, browser_token=login.cookie.value, now=NOW
    )
    assert identity.subject == "crew-4711"


def test_saml2_is_imported_only_by_the_quarantine_module() -> None:
    """pysaml2 lives in rpkit/saml/_pysaml2.py and nowhere else in the package."""
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "rpkit"
    importers = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if "sandbox" not in p.parts
        and any(
            line.lstrip().startswith(("import saml2", "from saml2"))
            for line in p.read_text().splitlines()
        )
    )
    assert importers == ["saml/_pysaml2.py"]


def test_unsigned_encrypted_assertion_is_rejected(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest, sp_cert_pem: bytes
) -> None:
    """Anyone can encrypt to the SP's public cert: an unsigned EncryptedAssertion fails.

    Nothing authenticated the ciphertext, so the reason is the one every failure of an
    encrypted assertion under an unsigned Response gets ("decryption", no oracle).
    """
    response = idp.build_response()
    idp.encrypt_assertion(response, sp_cert_pem)
    with pytest.raises(SamlResponseError) as info:
        sp.process_response(idp.encode(response), pending.relay_state, expected=pending, now=NOW)
    assert info.value.reason == "decryption"


def test_rsa_v15_key_transport_is_rejected(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest, sp_cert_pem: bytes
) -> None:
    """RSA PKCS#1 v1.5 key transport (a padding oracle) fails with reason "algorithm"."""
    from xmlsec import constants

    response = idp.build_response()
    idp.encrypt_assertion(response, sp_cert_pem, key_transport=constants.TransformRsaPkcs1)
    idp.sign(response)
    with pytest.raises(SamlResponseError) as info:
        sp.process_response(idp.encode(response), pending.relay_state, expected=pending, now=NOW)
    assert info.value.reason == "algorithm"
