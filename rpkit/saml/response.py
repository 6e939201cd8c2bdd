"""ACS validation: a pure function of (response, IdP keys, expected request, now).

Order matters: the gate shapes the document, signatures are verified on the exact
elements that are read afterwards, and only then are the profile rules checked
(SAML Profiles §4.1.4.2-§4.1.4.3, SAML Core §2.5 and §3.2.2).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from ..errors import SamlResponseError
from ..identity import CrewIdentity
from . import _gate, _xmlsec
from ._gate import NS, qname
from .config import SamlConfig
from .metadata import IdpMetadata, parse_instant, verify_keys, weak_keys
from .state import PendingRequest

__all__ = ["ValidatedResponse", "decode_post_message", "validate_response"]

BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
log = logging.getLogger("rpkit.saml")

SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
_STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
# Second-level status codes (SAML Core §3.2.2.2) that say this SP's request or registration
# is wrong, not the user: the setting an operator must check.
_SP_REJECTED = {
    _STATUS + "InvalidNameIDPolicy": (
        "RPKIT_SAML_NAME_ID_FORMAT (unset, the IdP answers in the format registered for this app)"
    ),
    _STATUS + "UnsupportedBinding": "RPKIT_SAML_AUTHN_BINDING",
    _STATUS + "RequestUnsupported": (
        "the registration of RPKIT_SAML_SP_ENTITY_ID at the IdP (ACS URL, signing certificate)"
    ),
}
ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
_ISSUER = qname("saml", "Issuer")
_ENCRYPTED_ASSERTION = qname("saml", "EncryptedAssertion")
_ATTRIBUTE = qname("saml", "Attribute")
_ATTRIBUTE_VALUE = qname("saml", "AttributeValue")
_ATTRIBUTE_STATEMENT = qname("saml", "AttributeStatement")
_RESPONSE = qname("samlp", "Response")
_ASSERTION = qname("saml", "Assertion")
_SIGNATURE = qname("ds", "Signature")
# Paths the checks walk on every login, compiled once (a prefixed path with a namespace
# map is parsed again on each find).
_STATUS_CODE = etree.XPath("samlp:Status/samlp:StatusCode", namespaces=NS)
_SUB_STATUS_CODE = etree.XPath("samlp:StatusCode", namespaces=NS)
_NAME_ID = etree.XPath("saml:Subject/saml:NameID", namespaces=NS)
_CONDITIONS = etree.XPath("saml:Conditions", namespaces=NS)
_AUDIENCE_RESTRICTIONS = etree.XPath("saml:AudienceRestriction", namespaces=NS)
_AUDIENCES = etree.XPath("saml:Audience", namespaces=NS)
_AUTHN_STATEMENT = etree.XPath("saml:AuthnStatement", namespaces=NS)
_SUBJECT_CONFIRMATIONS = etree.XPath("saml:Subject/saml:SubjectConfirmation", namespaces=NS)
_SUBJECT_CONFIRMATION_DATA = etree.XPath("saml:SubjectConfirmationData", namespaces=NS)


def _first(path: etree.XPath, element: etree._Element) -> etree._Element | None:
    """The first element ``path`` selects under ``element`` (what ``find`` returns)."""
    found = path(element)
    return found[0] if isinstance(found, list) and found else None


def _all(path: etree.XPath, element: etree._Element) -> list[etree._Element]:
    found = path(element)
    return found if isinstance(found, list) else []


_KNOWN_CONDITIONS = frozenset(
    {
        qname("saml", "AudienceRestriction"),
        qname("saml", "OneTimeUse"),
        qname("saml", "ProxyRestriction"),
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ValidatedResponse:
    """A response that passed every check; ``assertion_id`` goes to the replay cache;
    ``in_response_to`` is the request it answers (``None`` when unsolicited)."""

    identity: CrewIdentity
    assertion_id: str
    replay_until: datetime
    in_response_to: str | None = None


@dataclass(frozen=True, slots=True)
class TakenAfter:
    """``expected`` when the pending request is taken after validation, atomically with the
    session writes (one store round trip): the Response and its SubjectConfirmationData are
    held to the request the Response names in ``InResponseTo``, and the take then requires
    that request to be the pending one of ``RelayState``, started in this browser."""


#: The one ``TakenAfter`` value.
TAKEN_AFTER = TakenAfter()


def _fail(reason: str, message: str) -> SamlResponseError:
    return SamlResponseError(reason, message)


def decode_post_message(value: str | bytes, *, max_bytes: int, what: str) -> bytes:
    """Base64-decode an HTTP-POST ``SAMLResponse``/``SAMLRequest`` with a size cap first."""
    if isinstance(value, str):
        try:
            value = value.encode("ascii")
        except UnicodeEncodeError as err:
            raise _fail("malformed", f"{what} is not base64") from err
    if len(value) > (max_bytes * 4) // 3 + 1024:
        raise _fail("size", f"{what} exceeds the {max_bytes}-byte cap")
    try:
        return base64.b64decode(b"".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as err:
        raise _fail("malformed", f"{what} is not base64") from err


def _instant(element: etree._Element, attr: str, what: str) -> datetime | None:
    value = element.get(attr)
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as err:
        raise _fail("malformed", f"{what} {attr} is not a dateTime") from err


def check_issuer(element: etree._Element, idp: IdpMetadata, what: str, *, required: bool) -> None:
    """Require ``saml:Issuer`` (when present or ``required``) to equal the IdP entity ID."""
    issuer = element.find(_ISSUER)
    if issuer is None:
        if required:
            raise _fail("issuer", f"{what} has no Issuer")
        return
    if issuer.get("Format") not in (None, ENTITY) or (issuer.text or "").strip() != idp.entity_id:
        raise _fail("issuer", f'{what} Issuer is not the IdP "{idp.entity_id}"')


def check_issue_instant(
    element: etree._Element, config: SamlConfig, now: datetime, what: str
) -> None:
    """IssueInstant must be present, not in the future and not older than max_message_age."""
    issued = _instant(element, "IssueInstant", what)
    if issued is None:
        raise _fail("malformed", f"{what} has no IssueInstant")
    if issued > now + config.clock_skew:
        raise _fail("not_yet_valid", f"{what} IssueInstant is in the future")
    if issued < now - config.max_message_age - config.clock_skew:
        raise _fail("expired", f"{what} IssueInstant is older than max_message_age")


def verify_signature(
    element: etree._Element,
    sig: etree._Element,
    config: SamlConfig,
    idp: IdpMetadata,
    what: str,
) -> None:
    algorithms = _gate.check_signature(
        sig,
        signed=element,
        signature_algorithms=config.accepted_signature_algorithms,
        digest_algorithms=config.accepted_digest_algorithms,
        what=what,
    )
    try:
        _xmlsec.verify_enveloped(element, sig, verify_keys(idp), algorithms=algorithms, what=what)
    except SamlResponseError as err:
        if err.reason != "signature" or not idp.weak_certs:
            raise
        try:
            _xmlsec.verify_enveloped(element, sig, weak_keys(idp), algorithms=algorithms, what=what)
        except SamlResponseError:
            raise err from None
        raise _fail(
            "weak_key", f"{what} is signed with a key rpkit refuses as too weak (see the log)"
        ) from err


def _decrypt(
    root: etree._Element,
    encrypted: etree._Element,
    config: SamlConfig,
    keys: Sequence[_xmlsec.SigningKey],
    what: str,
) -> tuple[etree._Element, etree._Element]:
    """Decrypt the EncryptedAssertion in place; return the re-gated root and the assertion."""
    _xmlsec.decrypt_element(encrypted, keys, what=what)
    # The plaintext never went through the gate: send the whole document through it again.
    root = _gate.parse(etree.tostring(root), max_bytes=config.max_message_bytes, what=what)
    wrapper = root.find(_ENCRYPTED_ASSERTION)
    children = [] if wrapper is None else [c for c in wrapper if isinstance(c.tag, str)]
    if len(children) != 1 or children[0].tag != qname("saml", "Assertion"):
        raise _fail("malformed", f"{what} EncryptedAssertion did not hold one Assertion")
    assertion = children[0]
    if sum(1 for _ in root.iter(qname("saml", "Assertion"))) != 1:
        raise _fail("multiple_assertions", f"{what} decrypted into several assertions")
    _gate.signatures_of(root, [root, assertion], what)
    return root, assertion


def validate_response(
    saml_response: str | bytes,
    *,
    config: SamlConfig,
    idp: IdpMetadata,
    decryption_keys: Sequence[_xmlsec.SigningKey],
    expected: PendingRequest | TakenAfter | None,
    now: datetime,
) -> ValidatedResponse:
    """Validate a base64 ``SAMLResponse`` from the ACS POST and return the crew identity.

    ``expected`` is the pending request found by RelayState; ``None`` means unsolicited,
    refused unless ``allow_unsolicited``; ``TAKEN_AFTER``: the caller takes the pending
    request afterwards and checks it is the one of ``ValidatedResponse.in_response_to``.
    Raises ``SamlResponseError`` with ``.reason``.
    """
    what = "SAML response"
    root, found = _parse_response(saml_response, config, what)
    response_sig = root.find(_SIGNATURE)
    if response_sig is not None:
        verify_signature(root, response_sig, config, idp, what)
    check_issuer(root, idp, what, required=False)
    _check_status(root, signed=response_sig is not None, what=what)
    if not found:
        raise _fail("missing_assertion", f"{what} has no assertion")
    root, assertion = _verified_assertion(
        root,
        found[0],
        config=config,
        idp=idp,
        decryption_keys=decryption_keys,
        response_signed=response_sig is not None,
        what=what,
    )
    # Only now, with the assertion proven to be (inside) a verified element, read it.
    wanted = _check_request_binding(root, config=config, expected=expected, now=now, what=what)
    return _read_assertion(assertion, config=config, idp=idp, wanted=wanted, now=now)


def _parse_response(
    saml_response: str | bytes, config: SamlConfig, what: str
) -> tuple[etree._Element, list[etree._Element]]:
    """Gate the document; return the Response and its one (encrypted) assertion, if any."""
    data = decode_post_message(saml_response, max_bytes=config.max_message_bytes, what=what)
    root = _gate.parse(data, max_bytes=config.max_message_bytes, what=what)
    if root.tag != _RESPONSE or root.get("Version") != "2.0":
        raise _fail("malformed", f"{what} root is not a SAML 2.0 samlp:Response")
    # One walk of the tree finds nested Responses and every (encrypted) assertion.
    found = []
    for element in root.iter(_RESPONSE, _ASSERTION, _ENCRYPTED_ASSERTION):
        if element.tag == _RESPONSE and element is not root:
            raise _fail("wrapping", f"{what} contains a nested Response")
        if element.tag != _RESPONSE:
            found.append(element)
    if len(found) > 1:
        raise _fail("multiple_assertions", f"{what} carries {len(found)} assertions; one allowed")
    if found and found[0].getparent() is not root:
        raise _fail("wrapping", f"{what} assertion is not a direct child of the Response")
    allowed = [root, *(a for a in found if a.tag == _ASSERTION)]
    _gate.signatures_of(root, allowed, what)
    return root, found


def _check_status(root: etree._Element, *, signed: bool, what: str) -> None:
    """The top-level StatusCode is Success (reasons ``status``, ``sp_rejected``)."""
    status = _first(_STATUS_CODE, root)
    if status is not None and status.get("Value") == SUCCESS:
        return
    code = None if status is None else status.get("Value")
    sub = _first(_SUB_STATUS_CODE, status) if status is not None else None
    setting = _SP_REJECTED.get(str(sub.get("Value") if sub is not None else ""))
    if setting is not None and signed:
        # Only a signed status may blame our configuration: an unsigned one could send
        # the operator hunting for a setting that is fine.
        raise _fail(
            "sp_rejected",
            f"{what} status is {sub.get('Value') if sub is not None else ''}: the IdP "
            f"refused this SP's request; check {setting}",
        )
    raise _fail("status", f"{what} status is {code!r}, not Success")


def _verified_assertion(
    root: etree._Element,
    assertion: etree._Element,
    *,
    config: SamlConfig,
    idp: IdpMetadata,
    decryption_keys: Sequence[_xmlsec.SigningKey],
    response_signed: bool,
    what: str,
) -> tuple[etree._Element, etree._Element]:
    """Decrypt if needed and prove the assertion is signed, itself or by the Response."""
    assertion_verified = False
    if assertion.tag == _ENCRYPTED_ASSERTION:
        # AES-CBC only under a verified Response signature: then the ciphertext is
        # authenticated before it is decrypted and no padding oracle can be probed.
        _gate.check_encryption(assertion, what, allow_cbc=config.allow_aes_cbc and response_signed)
        if response_signed:
            root, assertion = _decrypt(root, assertion, config, decryption_keys, what)
        else:
            root, assertion = _decrypt_unauthenticated(
                root, assertion, config, idp, decryption_keys, what
            )
            assertion_verified = True
    assertion_sig = assertion.find(_SIGNATURE)
    if assertion_sig is not None and not assertion_verified:
        verify_signature(assertion, assertion_sig, config, idp, "SAML assertion")
    elif assertion_sig is None and not response_signed:
        raise _fail("signature", f"{what} is signed neither on the Response nor the Assertion")
    return root, assertion


def _decrypt_unauthenticated(
    root: etree._Element,
    encrypted: etree._Element,
    config: SamlConfig,
    idp: IdpMetadata,
    decryption_keys: Sequence[_xmlsec.SigningKey],
    what: str,
) -> tuple[etree._Element, etree._Element]:
    """Decrypt under an unsigned Response and verify the assertion's own signature.

    Nothing has authenticated this ciphertext yet: whatever fails from here to the
    assertion's signature (decryption, parsing, shape, the signature itself) is one reason
    to the client, or its answers would tell a well-formed plaintext from a broken one (a
    decryption oracle). The detail goes to the log only.
    """
    inner_sig = None
    try:
        root, assertion = _decrypt(root, encrypted, config, decryption_keys, what)
        inner_sig = assertion.find("ds:Signature", NS)
        if inner_sig is None:
            raise _fail("signature", f"{what} is signed neither outside nor inside")
        verify_signature(assertion, inner_sig, config, idp, "SAML assertion")
    except SamlResponseError as err:
        log.warning(
            "rpkit: SAML encrypted assertion under an unsigned Response refused (%s): %s",
            err.reason,
            err.message,
        )
        raise SamlResponseError(
            "decryption",
            f"{what}: the encrypted assertion was refused (see the log)",
            # A real signature that failed: the IdP may have rotated its key.
            key_not_found=err.reason == "signature" and inner_sig is not None,
        ) from err
    return root, assertion


def _check_request_binding(
    root: etree._Element,
    *,
    config: SamlConfig,
    expected: PendingRequest | TakenAfter | None,
    now: datetime,
    what: str,
) -> str | None:
    """Destination, IssueInstant and InResponseTo tie the Response to this SP's request;
    returns the request id the assertion must answer (``None``: unsolicited)."""
    if root.get("Destination") != config.acs_url:
        raise _fail("destination", f'{what} Destination is not the ACS URL "{config.acs_url}"')
    check_issue_instant(root, config, now, what)
    in_response_to: str | None = root.get("InResponseTo")
    if expected is None:
        if not config.allow_unsolicited:
            raise _fail("unsolicited", f"{what} answers no pending request (unsolicited)")
        if in_response_to is not None:
            raise _fail("in_response_to", f"{what} InResponseTo names no pending request")
        return None
    if isinstance(expected, TakenAfter):
        # The take checks the id against the pending request (its lifetime is the store's).
        if in_response_to is None:
            raise _fail("in_response_to", f"{what} InResponseTo does not match the request")
        return in_response_to
    if now > expected.created_at + config.pending_ttl + config.clock_skew:
        raise _fail("expired", "the login request is older than pending_ttl")
    if in_response_to != expected.request_id:
        raise _fail("in_response_to", f"{what} InResponseTo does not match the request")
    return expected.request_id


def _read_assertion(
    assertion: etree._Element,
    *,
    config: SamlConfig,
    idp: IdpMetadata,
    wanted: str | None,
    now: datetime,
) -> ValidatedResponse:
    what = "SAML assertion"
    skew = config.clock_skew
    if assertion.get("Version") != "2.0" or not assertion.get("ID"):
        raise _fail("malformed", f"{what} is not a SAML 2.0 assertion with an ID")
    check_issuer(assertion, idp, what, required=True)
    issued = _instant(assertion, "IssueInstant", what)
    if issued is None or issued > now + skew:
        raise _fail("not_yet_valid", f"{what} IssueInstant is missing or in the future")

    name_id = _first(_NAME_ID, assertion)
    if name_id is None or len(name_id) or not (name_id.text or "").strip():
        raise _fail("subject", f"{what} has no plain-text Subject NameID")
    replay_until = _check_subject_confirmation(assertion, config, wanted, now)

    conditions = _first(_CONDITIONS, assertion)
    if conditions is None:
        raise _fail("audience", f"{what} has no Conditions/AudienceRestriction")
    not_before = _instant(conditions, "NotBefore", what)
    not_on_or_after = _instant(conditions, "NotOnOrAfter", what)
    if not_before is not None and now + skew < not_before:
        raise _fail("not_yet_valid", f"{what} Conditions NotBefore is in the future")
    if not_on_or_after is not None:
        if now >= not_on_or_after + skew:
            raise _fail("expired", f"{what} Conditions NotOnOrAfter has passed")
        replay_until = max(replay_until, not_on_or_after + skew)
    restrictions = _all(_AUDIENCE_RESTRICTIONS, conditions)
    if not restrictions:
        raise _fail("audience", f"{what} has no AudienceRestriction")
    for restriction in restrictions:
        audiences = [(a.text or "").strip() for a in _all(_AUDIENCES, restriction)]
        if config.sp_entity_id not in audiences:
            raise _fail("audience", f'{what} Audience is not "{config.sp_entity_id}"')
    for condition in conditions:
        if condition.tag not in _KNOWN_CONDITIONS:
            raise _fail("conditions", f"{what} has a condition rpkit does not understand")

    authn = _first(_AUTHN_STATEMENT, assertion)
    if authn is None:
        raise _fail("authn_statement", f"{what} has no AuthnStatement")
    session_end = _instant(authn, "SessionNotOnOrAfter", what)
    if session_end is not None and now >= session_end + skew:
        raise _fail("expired", f"{what} SessionNotOnOrAfter has passed")

    attributes = _attributes(assertion)
    mapped = _map_attributes(attributes, config.attribute_mapping)
    session_index = authn.get("SessionIndex")
    claims = {
        "name_id": name_id.text.strip() if name_id.text else "",
        "name_id_format": name_id.get("Format"),
        "name_qualifier": name_id.get("NameQualifier"),
        "sp_name_qualifier": name_id.get("SPNameQualifier"),
        "session_index": session_index,
        "authn_instant": authn.get("AuthnInstant"),
        "assertion_id": assertion.get("ID"),
        "attributes": attributes,
    }
    identity = CrewIdentity(
        protocol="saml",
        issuer=idp.entity_id,
        subject=claims["name_id"],
        email=mapped.get("email"),
        name=mapped.get("name"),
        given_name=mapped.get("given_name"),
        family_name=mapped.get("family_name"),
        rank=mapped.get("rank"),
        department=mapped.get("department"),
        ship_name=mapped.get("ship_name"),
        ship_imo=mapped.get("ship_imo"),
        claims=claims,
    )
    return ValidatedResponse(
        identity=identity,
        assertion_id=str(assertion.get("ID")),
        replay_until=replay_until,
        in_response_to=wanted,
    )


def _check_subject_confirmation(
    assertion: etree._Element,
    config: SamlConfig,
    wanted: str | None,
    now: datetime,
) -> datetime:
    """Find one bearer SubjectConfirmation meeting SAML Profiles §4.1.4.2; return its expiry."""
    what = "SAML assertion SubjectConfirmationData"
    first: SamlResponseError | None = None
    for confirmation in _all(_SUBJECT_CONFIRMATIONS, assertion):
        if confirmation.get("Method") != BEARER:
            continue
        try:
            data = _first(_SUBJECT_CONFIRMATION_DATA, confirmation)
            if data is None:
                raise _fail("subject_confirmation", f"{what} is missing")
            not_on_or_after = _instant(data, "NotOnOrAfter", what)
            if not_on_or_after is None:
                raise _fail("subject_confirmation", f"{what} has no NotOnOrAfter")
            if data.get("Recipient") != config.acs_url:
                raise _fail("recipient", f'{what} Recipient is not "{config.acs_url}"')
            if now >= not_on_or_after + config.clock_skew:
                raise _fail("expired", f"{what} NotOnOrAfter has passed")
            not_before = _instant(data, "NotBefore", what)
            if not_before is not None and now + config.clock_skew < not_before:
                raise _fail("not_yet_valid", f"{what} NotBefore is in the future")
            in_response_to = data.get("InResponseTo")
            if in_response_to is not None and in_response_to != wanted:
                raise _fail("in_response_to", f"{what} InResponseTo does not match the request")
            return not_on_or_after + config.clock_skew
        except SamlResponseError as err:
            first = first or err
    if first is not None:
        raise first
    raise _fail("subject_confirmation", "SAML assertion has no bearer SubjectConfirmation")


def _attributes(assertion: etree._Element) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for statement in assertion.iterchildren(_ATTRIBUTE_STATEMENT):
        for attribute in statement.iterchildren(_ATTRIBUTE):
            texts = [(v.text or "").strip() for v in attribute.iterchildren(_ATTRIBUTE_VALUE)]
            name, friendly = attribute.get("Name"), attribute.get("FriendlyName")
            if name:
                values.setdefault(name, []).extend(texts)
            if friendly and friendly != name:
                values.setdefault(friendly, []).extend(texts)
    return values


def _map_attributes(
    attributes: Mapping[str, list[str]], mapping: Mapping[str, tuple[str, ...]]
) -> dict[str, str]:
    mapped: dict[str, str] = {}
    for field_name, names in mapping.items():
        for name in names:
            found = [v for v in attributes.get(name, ()) if v]
            if found:
                mapped[field_name] = found[0]
                break
    return mapped


def replay_ttl(validated: ValidatedResponse, now: datetime) -> timedelta:
    return max(validated.replay_until - now, timedelta(seconds=1))
