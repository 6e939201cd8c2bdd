"""Every valid response shape is accepted and yields the crew identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rpkit.identity import CrewIdentity
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


WS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"


def _identity(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest, **spec: Any
) -> CrewIdentity:
    b64 = idp.signed_response(ResponseSpec(**spec))
    return sp.process_response(b64, pending.relay_state, expected=pending, now=NOW)


def test_rsk_shaped_response_maps_claim_uris(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest
) -> None:
    """RSK's default: opaque unspecified NameID, WS-Fed claim URIs, rank under its own type."""
    identity = _identity(
        idp,
        sp,
        pending,
        name_id="9f3c1e0a-5b7d-4c2e-8a61-0d4f2b9e7c13",
        name_id_format=UNSPECIFIED,
        attributes={
            WS + "emailaddress": ["anna.berg@crew.test"],
            WS + "givenname": ["Anna"],
            WS + "surname": ["Berg"],
            WS + "name": ["Anna Berg"],
            "rank": ["Chief Officer"],
        },
    )
    assert identity.subject == "9f3c1e0a-5b7d-4c2e-8a61-0d4f2b9e7c13"
    assert identity.issuer == idp.entity_id
    got = {k: getattr(identity, k) for k in ("email", "name", "given_name", "family_name", "rank")}
    assert got == {
        "email": "anna.berg@crew.test",
        "name": "Anna Berg",
        "given_name": "Anna",
        "family_name": "Berg",
        "rank": "Chief Officer",
    }


def test_x500_oid_names_are_mapped(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest
) -> None:
    """mail, displayName, givenName and sn under their urn:oid names map to the identity."""
    identity = _identity(
        idp,
        sp,
        pending,
        attributes={
            "urn:oid:0.9.2342.19200300.100.1.3": ["anna.berg@crew.test"],
            "urn:oid:2.16.840.1.113730.3.1.241": ["Anna Berg"],
            "urn:oid:2.5.4.42": ["Anna"],
            "urn:oid:2.5.4.4": ["Berg"],
        },
    )
    got = [getattr(identity, k) for k in ("email", "name", "given_name", "family_name")]
    assert got == ["anna.berg@crew.test", "Anna Berg", "Anna", "Berg"]


def test_attribute_names_match_case_exactly(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest
) -> None:
    """A claim URI or plain name in another case is not the same attribute (SAML Core §2.7.3.1)."""
    identity = _identity(
        idp,
        sp,
        pending,
        attributes={WS + "EmailAddress": ["x@crew.test"], "Rank": ["Master"], "EMAIL": ["y@t"]},
    )
    assert identity.email is None and identity.rank is None


def test_attribute_mapping_is_overridable(
    idp: TestIdp, make_sp: Callable[..., ServiceProvider], pending: PendingRequest
) -> None:
    """attribute_mapping replaces the names of one field and keeps the defaults of the rest."""
    sp = make_sp(attribute_mapping={"rank": "http://schemas.dualog.com/claims/rank"})
    identity = _identity(
        idp,
        sp,
        pending,
        attributes={
            "http://schemas.dualog.com/claims/rank": ["Master"],
            "rank": ["Cook"],
            WS + "emailaddress": ["anna.berg@crew.test"],
        },
    )
    assert identity.rank == "Master"
    assert identity.email == "anna.berg@crew.test"


@pytest.mark.parametrize("fmt", list(NAME_ID_FORMATS.values()), ids=list(NAME_ID_FORMATS))
def test_users_are_keyed_by_issuer_and_name_id_whatever_the_format(
    idp: TestIdp, sp: ServiceProvider, pending: PendingRequest, fmt: str
) -> None:
    """The subject is the NameID value and the issuer the IdP, for every NameID format."""
    identity = _identity(idp, sp, pending, name_id="u-1", name_id_format=fmt)
    assert (identity.issuer, identity.subject) == (idp.entity_id, "u-1")
