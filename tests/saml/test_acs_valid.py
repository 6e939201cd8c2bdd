"""Every valid response shape is accepted and yields the crew identity."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rpkit.saml import PendingRequest, ServiceProvider

from .idp import NOW, ResponseSpec, TestIdp

NAME_ID_FORMATS = {
    "unspecified": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "email": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
}


@pytest.mark.parametrize(
    ("sign_response", "sign_assertion"),
    [(True, False), (False, True), (True, True)],
    ids=["signed_response", "signed_assertion", "signed_both"],
)
def test_signed_variants_are_accepted(
    idp: TestIdp,
    sp: ServiceProvider,
    pending: PendingRequest,
    sign_response: bool,
    sign_assertion: bool,
) -> None:
    """A response signed on the Response, the Assertion or both yields the identity."""
    b64 = idp.signed_response(response=sign_response, assertion=sign_assertion)
    identity = sp.process_response(b64, pending.relay_state, expected=pending, now=NOW)
    assert identity.protocol == "saml"
    assert identity.issuer == idp.entity_id
    assert identity.subject == "crew-4711"
    assert identity.email == "anna.berg@crew.test"
    assert (identity.given_name, identity.family_name) == ("Anna", "Berg")
    assert identity.rank == "Chief Officer"
    assert identity.department == "Deck"
    assert (identity.ship_name, identity.ship_imo) == ("MV Nordlys", "9876543")
    assert identity.claims["session_index"] == "_session1"


@pytest.mark.parametrize("sign", ["assertion", "response"])
def test_encrypted_assertion_is_decrypted_with_the_sp_key(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest, sp_cert_pem: bytes, sign: str
) -> None:
    """An EncryptedAssertion (signed inside, or under a signed Response) is accepted."""
    response = idp.build_response()
    if sign == "assertion":
        idp.sign(idp.assertion_of(response))
    idp.encrypt_assertion(response, sp_cert_pem)
    if sign == "response":
        idp.sign(response)
    identity = sp.process_response(
        idp.encode(response), pending.relay_state, expected=pending, now=NOW
    )
    assert identity.rank == "Chief Officer"


@pytest.mark.parametrize("fmt", list(NAME_ID_FORMATS.values()), ids=list(NAME_ID_FORMATS))
def test_each_name_id_format_is_accepted(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest, fmt: str
) -> None:
    """Dualog's four NameID formats all yield a subject and keep the format for logout."""
    b64 = idp.signed_response(ResponseSpec(name_id="anna@crew.test", name_id_format=fmt))
    identity = sp.process_response(b64, pending.relay_state, expected=pending, now=NOW)
    assert identity.subject == "anna@crew.test"
    assert identity.claims["name_id_format"] == fmt


def test_oid_and_alternative_attribute_names_are_mapped(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest
) -> None:
    """The mail OID, given_name/family_name and ship_imo spellings map to the identity."""
    spec = ResponseSpec(
        attributes={
            "urn:oid:0.9.2342.19200300.100.1.3": ["x@crew.test"],
            "given_name": ["X"],
            "family_name": ["Y"],
            "ship_imo": ["1234567"],
        }
    )
    identity = sp.process_response(
        idp.signed_response(spec), pending.relay_state, expected=pending, now=NOW
    )
    assert (identity.email, identity.given_name, identity.family_name, identity.ship_imo) == (
        "x@crew.test",
        "X",
        "Y",
        "1234567",
    )


def test_clock_skew_tolerates_a_slightly_early_response(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest
) -> None:
    """A response issued 60 s in our future passes with the default 90 s skew."""
    from datetime import timedelta

    identity = sp.process_response(
        idp.signed_response(),
        pending.relay_state,
        expected=pending,
        now=NOW - timedelta(seconds=60),
    )
    assert identity.subject == "crew-4711"


def test_unsolicited_accepted_only_with_allow_unsolicited(
    idp: TestIdp, make_sp: Callable[..., ServiceProvider]
) -> None:
    """IdP-initiated SSO passes when allow_unsolicited is set and no InResponseTo is sent."""
    sp = make_sp(allow_unsolicited=True)
    b64 = idp.signed_response(ResponseSpec(in_response_to=None, scd_in_response_to=None))
    assert sp.process_response(b64, None, expected=None, now=NOW).subject == "crew-4711"


def test_encrypted_key_beside_encrypted_data_is_found(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest, sp_cert_pem: bytes
) -> None:
    """Shibboleth-style: EncryptedKey a sibling of EncryptedData, found by RetrievalMethod."""
    from lxml import etree

    from rpkit.saml._gate import NS

    response = idp.build_response()
    idp.sign(idp.assertion_of(response))
    idp.encrypt_assertion(response, sp_cert_pem)
    wrapper = response.find("saml:EncryptedAssertion", NS)
    assert wrapper is not None
    enc_key = wrapper.find(".//xenc:EncryptedKey", NS)
    assert enc_key is not None
    key_info = enc_key.getparent()
    assert key_info is not None
    key_info.remove(enc_key)
    enc_key.set("Id", "_k1")
    retrieval = etree.SubElement(key_info, "{http://www.w3.org/2000/09/xmldsig#}RetrievalMethod")
    retrieval.set("URI", "#_k1")
    retrieval.set("Type", "http://www.w3.org/2001/04/xmlenc#EncryptedKey")
    wrapper.append(enc_key)
    identity = sp.process_response(
        idp.encode(response), pending.relay_state, expected=pending, now=NOW
    )
    assert identity.subject == "crew-4711"
