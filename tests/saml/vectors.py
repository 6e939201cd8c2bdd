"""The hostile corpus: named vectors, one defect each, and the reason each must raise.

Each vector starts from a valid response built by the test IdP and changes exactly one
thing. XSW1-XSW8 follow Somorovsky et al., "On Breaking SAML" (USENIX Security 2012),
in the numbering SAML Raider uses.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from .idp import NOW, ResponseSpec, TestIdp, new_id, q

DS = "http://www.w3.org/2000/09/xmldsig#"
EVIL_NAME_ID = "captain@evil.test"


@dataclass(frozen=True)
class Case:
    """A response to post to the ACS, and the clock and request to check it against."""

    saml_response: str
    now: datetime = NOW
    solicited: bool = True


@dataclass(frozen=True)
class Vector:
    id: str
    reason: str
    build: Callable[[TestIdp, TestIdp], Case]


VECTORS: list[Vector] = []


def vector(reason: str) -> Callable[[Callable[[TestIdp, TestIdp], Case]], Callable[..., Case]]:
    def register(build: Callable[[TestIdp, TestIdp], Case]) -> Callable[..., Case]:
        VECTORS.append(Vector(build.__name__, reason, build))
        return build

    return register


def _signature(element: etree._Element) -> etree._Element:
    sig = element.find(f"{{{DS}}}Signature")
    assert sig is not None
    return sig


def _evil(element: etree._Element) -> etree._Element:
    """A copy of ``element`` with a new ID, no signature and the attacker's NameID."""
    evil = copy.deepcopy(element)
    evil.set("ID", new_id())
    for sig in evil.findall(f"{{{DS}}}Signature"):
        evil.remove(sig)
    for name_id in evil.iter(q("saml", "NameID")):
        name_id.text = EVIL_NAME_ID
    return evil


def _signed(idp: TestIdp, *, assertion: bool = False) -> etree._Element:
    response = idp.build_response()
    idp.sign(idp.assertion_of(response) if assertion else response)
    # Re-parse: lxml's tag-filtered iter() misses nodes libxmlsec1 created in place.
    return etree.fromstring(etree.tostring(response))


# -- signature wrapping (XSW) ----------------------------------------------------------


@vector("wrapping")
def xsw1_signed_response_inside_signature(idp: TestIdp, _: TestIdp) -> Case:
    """XSW1: an unsigned evil Response carries the signed original inside its Signature."""
    original = _signed(idp)
    evil = _evil(original)
    sig = copy.deepcopy(_signature(original))
    sig.append(copy.deepcopy(original))
    evil.insert(1, sig)
    return Case(TestIdp.encode(evil))


@vector("wrapping")
def xsw2_signed_response_before_signature(idp: TestIdp, _: TestIdp) -> Case:
    """XSW2: like XSW1, the signed original sits beside the Signature (detached)."""
    original = _signed(idp)
    evil = _evil(original)
    sig = copy.deepcopy(_signature(original))
    evil.insert(1, sig)
    sig.addprevious(copy.deepcopy(original))
    return Case(TestIdp.encode(evil))


@vector("multiple_assertions")
def xsw3_evil_assertion_before_signed(idp: TestIdp, _: TestIdp) -> Case:
    """XSW3: an evil assertion precedes the signed one as the Response's first assertion."""
    response = _signed(idp, assertion=True)
    signed = idp.assertion_of(response)
    signed.addprevious(_evil(signed))
    return Case(TestIdp.encode(response))


@vector("multiple_assertions")
def xsw4_signed_assertion_inside_evil(idp: TestIdp, _: TestIdp) -> Case:
    """XSW4: the signed assertion is wrapped as a child of an evil assertion."""
    response = _signed(idp, assertion=True)
    signed = idp.assertion_of(response)
    evil = _evil(signed)
    signed.addprevious(evil)
    evil.append(signed)
    return Case(TestIdp.encode(response))


@vector("multiple_assertions")
def xsw5_evil_assertion_keeps_signature(idp: TestIdp, _: TestIdp) -> Case:
    """XSW5: the evil assertion carries the copied Signature; the original goes last."""
    response = _signed(idp, assertion=True)
    signed = idp.assertion_of(response)
    evil = _evil(signed)
    evil.insert(1, copy.deepcopy(_signature(signed)))
    signed.addprevious(evil)
    original = copy.deepcopy(signed)
    original.remove(_signature(original))
    response.remove(signed)
    response.append(original)
    return Case(TestIdp.encode(response))


@vector("multiple_assertions")
def xsw6_signed_assertion_inside_evil_signature(idp: TestIdp, _: TestIdp) -> Case:
    """XSW6: the original assertion hides inside the evil assertion's copied Signature."""
    response = _signed(idp, assertion=True)
    signed = idp.assertion_of(response)
    evil = _evil(signed)
    sig = copy.deepcopy(_signature(signed))
    evil.insert(1, sig)
    original = copy.deepcopy(signed)
    original.remove(_signature(original))
    sig.append(original)
    signed.addprevious(evil)
    response.remove(signed)
    return Case(TestIdp.encode(response))


@vector("multiple_assertions")
def xsw7_signed_assertion_in_extensions(idp: TestIdp, _: TestIdp) -> Case:
    """XSW7: the signed assertion moves into an Extensions element; an evil one replaces it."""
    response = _signed(idp, assertion=True)
    signed = idp.assertion_of(response)
    extensions = etree.Element(q("samlp", "Extensions"))
    signed.addprevious(_evil(signed))
    response.insert(1, extensions)
    extensions.append(signed)
    return Case(TestIdp.encode(response))


@vector("multiple_assertions")
def xsw8_signed_assertion_in_signature_object(idp: TestIdp, _: TestIdp) -> Case:
    """XSW8: the original assertion sits in a ds:Object inside the evil one's Signature."""
    response = _signed(idp, assertion=True)
    signed = idp.assertion_of(response)
    evil = _evil(signed)
    sig = copy.deepcopy(_signature(signed))
    evil.insert(1, sig)
    obj = etree.SubElement(sig, f"{{{DS}}}Object")
    original = copy.deepcopy(signed)
    original.remove(_signature(original))
    obj.append(original)
    signed.addprevious(evil)
    response.remove(signed)
    return Case(TestIdp.encode(response))


@vector("wrapping")
def xsw_single_assertion_in_extensions(idp: TestIdp, _: TestIdp) -> Case:
    """A signed Response moved into Extensions of an unsigned one (one assertion in all)."""
    original = _signed(idp)
    evil = idp.build_response()
    evil.remove(idp.assertion_of(evil))
    extensions = etree.Element(q("samlp", "Extensions"))
    evil.insert(1, extensions)
    extensions.append(original)
    return Case(TestIdp.encode(evil))


@vector("wrapping")
def xml_id_collision(idp: TestIdp, _: TestIdp) -> Case:
    """An evil element carries xml:id equal to the signed Response's ID."""
    response = _signed(idp)
    status = response.find(q("samlp", "Status"))
    assert status is not None
    status.set("{http://www.w3.org/XML/1998/namespace}id", str(response.get("ID")))
    return Case(TestIdp.encode(response))


# -- signatures ------------------------------------------------------------------------


@vector("signature")
def signature_removed(idp: TestIdp, _: TestIdp) -> Case:
    """The Response is not signed at all, nor is the Assertion."""
    return Case(TestIdp.encode(idp.build_response()))


@vector("signature")
def resigned_with_other_key_cert_in_keyinfo(idp: TestIdp, attacker: TestIdp) -> Case:
    """Signed by another key whose certificate is in KeyInfo; only metadata keys count."""
    response = idp.build_response()
    attacker.sign(response)
    return Case(TestIdp.encode(response))


@vector("signature")
def tampered_after_signing(idp: TestIdp, _: TestIdp) -> Case:
    """The NameID is changed after the Response was signed."""
    response = _signed(idp)
    for name_id in response.iter(q("saml", "NameID")):
        name_id.text = EVIL_NAME_ID
    return Case(TestIdp.encode(response))


@vector("algorithm")
def sha1_signature(idp: TestIdp, _: TestIdp) -> Case:
    """RSA-SHA1 with a SHA-1 digest; refused unless allow_sha1."""
    response = idp.build_response()
    idp.sign(
        response,
        algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        digest="http://www.w3.org/2000/09/xmldsig#sha1",
    )
    return Case(TestIdp.encode(response))


@vector("algorithm")
def hmac_signature_method(idp: TestIdp, _: TestIdp) -> Case:
    """SignatureMethod switched to HMAC-SHA256, keyed by the public cert (key confusion)."""
    response = _signed(idp)
    method = next(response.iter(f"{{{DS}}}SignatureMethod"))
    method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
    return Case(TestIdp.encode(response))


@vector("algorithm")
def xpath_transform(idp: TestIdp, _: TestIdp) -> Case:
    """An XPath transform in the Reference selects what the digest covers."""
    response = _signed(idp)
    transforms = next(response.iter(f"{{{DS}}}Transforms"))
    xpath = etree.SubElement(transforms, f"{{{DS}}}Transform")
    xpath.set("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
    etree.SubElement(xpath, f"{{{DS}}}XPath").text = "not(ancestor-or-self::saml:NameID)"
    return Case(TestIdp.encode(response))


@vector("wrapping")
def second_signed_info(idp: TestIdp, _: TestIdp) -> Case:
    """The Signature carries a second SignedInfo after the first."""
    response = _signed(idp)
    sig = _signature(response)
    sig.insert(1, copy.deepcopy(sig[0]))
    return Case(TestIdp.encode(response))


@vector("wrapping")
def reference_to_other_element(idp: TestIdp, _: TestIdp) -> Case:
    """The Response's Signature references the Assertion's ID, not the Response."""
    response = idp.build_response()
    assertion = idp.assertion_of(response)
    idp.sign(assertion)
    sig = _signature(assertion)
    assertion.remove(sig)
    response.insert(1, sig)
    return Case(TestIdp.encode(response))


@vector("comment")
def comment_in_digest_value(idp: TestIdp, _: TestIdp) -> Case:
    """A comment splits the DigestValue text."""
    response = _signed(idp)
    digest = next(response.iter(f"{{{DS}}}DigestValue"))
    text = digest.text or ""
    digest.text = text[:10]
    comment = etree.Comment("x")
    comment.tail = text[10:]
    digest.append(comment)
    return Case(TestIdp.encode(response))


@vector("comment")
def comment_in_name_id(idp: TestIdp, _: TestIdp) -> Case:
    """A comment inside the signed NameID (c14n drops it, so the signature still holds)."""
    spec = ResponseSpec(name_id="captain@crew.test.evil.test")
    response = idp.build_response(spec)
    idp.sign(response)
    name_id = next(response.iter(q("saml", "NameID")))
    name_id.text = "captain@crew.test"
    comment = etree.Comment("")
    comment.tail = ".evil.test"
    name_id.append(comment)
    return Case(TestIdp.encode(response))


# -- parser attacks --------------------------------------------------------------------


def _with_prolog(idp: TestIdp, prolog: str, name_id: str = "crew-4711") -> Case:
    response = _signed(idp)
    xml = etree.tostring(response).decode()
    if name_id != "crew-4711":
        xml = xml.replace(">crew-4711<", f">{name_id}<")
    return Case(TestIdp.encode((prolog + xml).encode()))


@vector("doctype")
def doctype_declared(idp: TestIdp, _: TestIdp) -> Case:
    """A harmless-looking DOCTYPE before the Response."""
    return _with_prolog(idp, "<!DOCTYPE samlp:Response>")


@vector("doctype")
def external_entity(idp: TestIdp, _: TestIdp) -> Case:
    """An external entity (XXE) referenced from the NameID."""
    return _with_prolog(
        idp,
        '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        name_id="&xxe;",
    )


@vector("doctype")
def entity_expansion(idp: TestIdp, _: TestIdp) -> Case:
    """Nested entity expansion (billion laughs)."""
    entities = '<!ENTITY a "lol">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    return _with_prolog(idp, f"<!DOCTYPE r [{entities}]>", name_id="&i;")


@vector("processing_instruction")
def processing_instruction(idp: TestIdp, _: TestIdp) -> Case:
    """A processing instruction before the root."""
    return _with_prolog(idp, '<?xml-stylesheet href="http://evil.test/x.xsl"?>')


@vector("encoding")
def utf16_encoded(idp: TestIdp, _: TestIdp) -> Case:
    """The document is UTF-16, where byte-level checks would miss a DOCTYPE."""
    xml = etree.tostring(_signed(idp), encoding="utf-16")
    return Case(TestIdp.encode(xml))


@vector("size")
def oversized(idp: TestIdp, _: TestIdp) -> Case:
    """A 300 KiB attribute value pushes the response over the size cap."""
    spec = ResponseSpec(attributes={"rank": ["x" * 300_000]})
    return Case(idp.signed_response(spec))


@vector("malformed")
def not_base64(idp: TestIdp, _: TestIdp) -> Case:
    """SAMLResponse is not base64."""
    return Case("<samlp:Response/>")


@vector("multiple_assertions")
def two_assertions(idp: TestIdp, _: TestIdp) -> Case:
    """Two assertions, both under the Response signature."""
    response = idp.build_response()
    assertion = idp.assertion_of(response)
    second = copy.deepcopy(assertion)
    second.set("ID", new_id())
    assertion.addnext(second)
    idp.sign(response)
    return Case(TestIdp.encode(response))


# -- profile checks --------------------------------------------------------------------


@vector("audience")
def wrong_audience(idp: TestIdp, _: TestIdp) -> Case:
    """The Audience names another SP."""
    return Case(idp.signed_response(ResponseSpec(audience="https://other-sp.test")))


@vector("destination")
def wrong_destination(idp: TestIdp, _: TestIdp) -> Case:
    """The Response Destination is another SP's ACS."""
    return Case(idp.signed_response(ResponseSpec(destination="https://other-sp.test/acs")))


@vector("destination")
def missing_destination(idp: TestIdp, _: TestIdp) -> Case:
    """The Response has no Destination."""
    return Case(idp.signed_response(ResponseSpec(destination=None)))


@vector("recipient")
def wrong_recipient(idp: TestIdp, _: TestIdp) -> Case:
    """SubjectConfirmationData Recipient is another SP's ACS."""
    return Case(idp.signed_response(ResponseSpec(recipient="https://other-sp.test/acs")))


@vector("issuer")
def wrong_issuer(idp: TestIdp, _: TestIdp) -> Case:
    """The Response and Assertion Issuer name another IdP."""
    spec = ResponseSpec(response_issuer="https://evil.test", assertion_issuer="https://evil.test")
    return Case(idp.signed_response(spec))


@vector("issuer")
def wrong_assertion_issuer(idp: TestIdp, _: TestIdp) -> Case:
    """Only the Assertion Issuer names another IdP."""
    return Case(idp.signed_response(ResponseSpec(assertion_issuer="https://evil.test")))


@vector("expired")
def expired(idp: TestIdp, _: TestIdp) -> Case:
    """Checked 10 minutes after every NotOnOrAfter (5 min) plus skew (90 s)."""
    return Case(idp.signed_response(), now=NOW + timedelta(minutes=10))


@vector("expired")
def subject_confirmation_expired(idp: TestIdp, _: TestIdp) -> Case:
    """SubjectConfirmationData NotOnOrAfter passed although Conditions still hold."""
    spec = ResponseSpec(scd_not_on_or_after=NOW - timedelta(minutes=3))
    return Case(idp.signed_response(spec))


@vector("not_yet_valid")
def not_yet_valid(idp: TestIdp, _: TestIdp) -> Case:
    """Conditions NotBefore is 10 minutes in the future."""
    spec = ResponseSpec(not_before=NOW + timedelta(minutes=10))
    return Case(idp.signed_response(spec))


@vector("subject_confirmation")
def missing_subject_confirmation_not_on_or_after(idp: TestIdp, _: TestIdp) -> Case:
    """SubjectConfirmationData has no NotOnOrAfter (required by Profiles §4.1.4.2)."""
    return Case(idp.signed_response(ResponseSpec(scd_not_on_or_after=None)))


@vector("unsolicited")
def unsolicited(idp: TestIdp, _: TestIdp) -> Case:
    """No pending request, and allow_unsolicited is off."""
    spec = ResponseSpec(in_response_to=None, scd_in_response_to=None)
    return Case(idp.signed_response(spec), solicited=False)


@vector("in_response_to")
def in_response_to_mismatch(idp: TestIdp, _: TestIdp) -> Case:
    """InResponseTo names another request."""
    spec = ResponseSpec(in_response_to="_other", scd_in_response_to="_other")
    return Case(idp.signed_response(spec))


@vector("in_response_to")
def subject_confirmation_in_response_to_mismatch(idp: TestIdp, _: TestIdp) -> Case:
    """Only SubjectConfirmationData InResponseTo names another request."""
    return Case(idp.signed_response(ResponseSpec(scd_in_response_to="_other")))


@vector("status")
def status_not_success(idp: TestIdp, _: TestIdp) -> Case:
    """The IdP reports a Requester error."""
    spec = ResponseSpec(status="urn:oasis:names:tc:SAML:2.0:status:Requester")
    return Case(idp.signed_response(spec))
