"""The one home of ``saml2`` (pysaml2): metadata parsing and message building.

pysaml2's results are tri-state (a value, ``None`` or ``False``) and its exceptions have
four roots; everything leaving this module is a plain value or an rpkit error. Signatures
are never made or checked here: that is ``_xmlsec``'s job, in-process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from saml2 import md, saml, samlp
from saml2 import xmldsig as ds
from saml2.validate import valid_duration

from ..errors import MetadataError

__all__ = [
    "BINDING_POST",
    "BINDING_REDIRECT",
    "ParsedIdp",
    "build_authn_request",
    "build_logout_request",
    "build_logout_response",
    "build_sp_metadata",
    "parse_idp_metadata",
]

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"


@dataclass(frozen=True, slots=True)
class ParsedIdp:
    """What rpkit reads from an IdP's EntityDescriptor."""

    entity_id: str
    valid_until: str | None
    cache_duration: str | None
    signing_certs: tuple[str, ...]
    encryption_certs: tuple[str, ...]
    sso: tuple[tuple[str, str], ...]
    slo: tuple[tuple[str, str, str | None], ...]
    name_id_formats: tuple[str, ...]
    want_authn_requests_signed: bool


def _text(value: object) -> str:
    text = getattr(value, "text", None)
    return text.strip() if isinstance(text, str) else ""


def parse_idp_metadata(xml: bytes, entity_id: str | None) -> ParsedIdp:
    """Find ``entity_id``'s IDPSSODescriptor in metadata already passed through the gate.

    With ``entity_id=None`` the metadata must describe exactly one identity provider,
    whose entity is taken; an aggregate of several is refused, as guessing among them
    would let the wrong IdP sign users in.
    """
    try:
        descriptor = md.entity_descriptor_from_string(xml)
        candidates = [descriptor] if descriptor is not None else []
        if not candidates:
            group = md.entities_descriptor_from_string(xml)
            candidates = list(group.entity_descriptor) if group is not None else []
    except Exception as err:  # pysaml2 raises from several roots on malformed input
        raise MetadataError("SAML metadata could not be parsed") from err
    if entity_id is None:
        idp_entities = [d for d in candidates if d.idpsso_descriptor]
        if len(idp_entities) != 1:
            found = ", ".join(sorted({str(d.entity_id) for d in idp_entities})[:5]) or "none"
            raise MetadataError(
                f"SAML metadata describes {len(idp_entities)} identity providers, not one "
                f'(found: {found}); set "idp_entity_id" (RPKIT_SAML_IDP_ENTITY_ID) to the '
                "one to trust"
            )
        entity_id = str(idp_entities[0].entity_id)
    matches = [d for d in candidates if d.entity_id == entity_id]
    if len(matches) != 1:
        found = ", ".join(sorted({str(d.entity_id) for d in candidates})[:5]) or "none"
        raise MetadataError(f'SAML metadata has no single entity "{entity_id}" (found: {found})')
    entity = matches[0]
    idps = entity.idpsso_descriptor or []
    if len(idps) != 1:
        raise MetadataError(f'SAML metadata for "{entity_id}" needs one IDPSSODescriptor')
    idp = idps[0]
    if samlp.NAMESPACE not in (idp.protocol_support_enumeration or "").split():
        raise MetadataError("IDPSSODescriptor does not support the SAML 2.0 protocol")
    signing: list[str] = []
    encryption: list[str] = []
    for kd in idp.key_descriptor or []:
        for x509 in getattr(kd.key_info, "x509_data", None) or []:
            der = "".join(_text(x509.x509_certificate).split())
            if not der:
                continue
            if kd.use in (None, "", "signing"):
                signing.append(der)
            if kd.use in (None, "", "encryption"):
                encryption.append(der)
    valid_until = idp.valid_until or entity.valid_until
    cache_duration = idp.cache_duration or entity.cache_duration
    if cache_duration is not None and not _is_duration(str(cache_duration)):
        raise MetadataError(f"SAML metadata cacheDuration {cache_duration!r} is not a duration")
    return ParsedIdp(
        entity_id=str(entity.entity_id),
        valid_until=str(valid_until) if valid_until else None,
        cache_duration=str(cache_duration) if cache_duration else None,
        signing_certs=tuple(signing),
        encryption_certs=tuple(encryption),
        sso=tuple((s.binding, s.location) for s in idp.single_sign_on_service or []),
        slo=tuple(
            (s.binding, s.location, s.response_location) for s in idp.single_logout_service or []
        ),
        name_id_formats=tuple(_text(f) for f in idp.name_id_format or []),
        want_authn_requests_signed=str(idp.want_authn_requests_signed).lower() == "true",
    )


def _is_duration(value: str) -> bool:
    try:
        return bool(valid_duration(value))
    except Exception:  # pysaml2 raises its own NotValid for bad input
        return False


def _instant(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _protocol_message(
    kind: Any,
    *,
    message_id: str,
    issue_instant: datetime,
    destination: str,
    sp_entity_id: str,
    **fields: Any,
) -> bytes:
    """A protocol message with what SAML Core §3.2.1/§3.2.2 give every one, plus ``fields``."""
    message = kind(
        id=message_id,
        version="2.0",
        issue_instant=_instant(issue_instant),
        destination=destination,
        issuer=_issuer(sp_entity_id),
        **fields,
    )
    return bytes(message.to_string())


def _issuer(entity_id: str) -> saml.Issuer:
    return saml.Issuer(text=entity_id, format=NAMEID_ENTITY)


def build_authn_request(
    *,
    request_id: str,
    issue_instant: datetime,
    destination: str,
    sp_entity_id: str,
    acs_url: str,
    name_id_format: str | None,
    force_authn: bool,
) -> bytes:
    """An AuthnRequest asking for a response over HTTP-POST to ``acs_url`` (SAML Core §3.4.1).

    Without ``name_id_format`` no NameIDPolicy is sent and the IdP picks its configured
    format (SAML Core §3.4.1.1).
    """
    policy = None
    if name_id_format is not None:
        policy = samlp.NameIDPolicy(format=name_id_format, allow_create="true")
    return _protocol_message(
        samlp.AuthnRequest,
        message_id=request_id,
        issue_instant=issue_instant,
        destination=destination,
        sp_entity_id=sp_entity_id,
        assertion_consumer_service_url=acs_url,
        protocol_binding=BINDING_POST,
        name_id_policy=policy,
        force_authn="true" if force_authn else None,
    )


def build_logout_request(
    *,
    request_id: str,
    issue_instant: datetime,
    destination: str,
    sp_entity_id: str,
    name_id: str,
    name_id_format: str | None,
    name_qualifier: str | None,
    sp_name_qualifier: str | None,
    session_index: str | None,
    lifetime: timedelta,
) -> bytes:
    """An SP-initiated LogoutRequest (SAML Core §3.7.1)."""
    return _protocol_message(
        samlp.LogoutRequest,
        message_id=request_id,
        issue_instant=issue_instant,
        destination=destination,
        sp_entity_id=sp_entity_id,
        not_on_or_after=_instant(issue_instant + lifetime),
        name_id=saml.NameID(
            text=name_id,
            format=name_id_format,
            name_qualifier=name_qualifier,
            sp_name_qualifier=sp_name_qualifier,
        ),
        session_index=[samlp.SessionIndex(text=session_index)] if session_index else [],
    )


def build_logout_response(
    *,
    response_id: str,
    issue_instant: datetime,
    destination: str,
    sp_entity_id: str,
    in_response_to: str,
    status: str = STATUS_SUCCESS,
) -> bytes:
    """A LogoutResponse to an IdP-initiated LogoutRequest (SAML Core §3.7.2)."""
    return _protocol_message(
        samlp.LogoutResponse,
        message_id=response_id,
        issue_instant=issue_instant,
        destination=destination,
        sp_entity_id=sp_entity_id,
        in_response_to=in_response_to,
        status=samlp.Status(status_code=samlp.StatusCode(value=status)),
    )


def _key_descriptor(use: str, cert_der_b64: str) -> md.KeyDescriptor:
    return md.KeyDescriptor(
        use=use,
        key_info=ds.KeyInfo(
            x509_data=[ds.X509Data(x509_certificate=ds.X509Certificate(text=cert_der_b64))]
        ),
    )


def build_sp_metadata(
    *,
    entity_id: str,
    acs_url: str,
    logout_url: str | None,
    certs: Sequence[str],
    name_id_format: str,
    authn_requests_signed: bool,
    valid_until: datetime | None = None,
) -> bytes:
    """This SP's EntityDescriptor; every cert in ``certs`` is published (key rollover)."""
    keys = []
    for cert in certs:
        keys.append(_key_descriptor("signing", cert))
        keys.append(_key_descriptor("encryption", cert))
    slo = []
    if logout_url:
        slo = [
            md.SingleLogoutService(binding=BINDING_REDIRECT, location=logout_url),
            md.SingleLogoutService(binding=BINDING_POST, location=logout_url),
        ]
    descriptor = md.SPSSODescriptor(
        protocol_support_enumeration=samlp.NAMESPACE,
        authn_requests_signed="true" if authn_requests_signed else "false",
        want_assertions_signed="true",
        key_descriptor=keys,
        single_logout_service=slo,
        name_id_format=[md.NameIDFormat(text=name_id_format)],
        assertion_consumer_service=[
            md.AssertionConsumerService(
                binding=BINDING_POST, location=acs_url, index="0", is_default="true"
            )
        ],
    )
    entity = md.EntityDescriptor(
        entity_id=entity_id,
        spsso_descriptor=[descriptor],
        valid_until=_instant(valid_until) if valid_until else None,
    )
    return bytes(entity.to_string())
