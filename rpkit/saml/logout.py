"""Single logout messages (SAML Core §3.7, Profiles §4.4): checks on what the IdP sends.

An IdP-initiated LogoutRequest must be signed (over the raw query for HTTP-Redirect),
come from the IdP, be addressed to our logout URL, be fresh, not be replayed, and name
the session's NameID and SessionIndex. A LogoutResponse must answer our pending request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lxml import etree

from ..errors import SamlResponseError
from . import _bindings, _gate
from ._gate import NS, qname
from .config import SamlConfig
from .metadata import IdpMetadata, verify_keys
from .response import (
    SUCCESS,
    _instant,
    check_issue_instant,
    check_issuer,
    decode_post_message,
    verify_signature,
)
from .state import PendingLogout, SamlSession

__all__ = [
    "ValidatedLogoutRequest",
    "read_logout_message",
    "validate_logout_request",
    "validate_logout_response",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class ValidatedLogoutRequest:
    request_id: str
    relay_state: str | None
    not_on_or_after: datetime | None
    # SAML Core §3.7.3.2: no SessionIndex means every session of the principal ends.
    session_indexes: tuple[str, ...] = ()


def read_logout_message(
    *,
    binding: Literal["redirect", "post"],
    param: Literal["SAMLRequest", "SAMLResponse"],
    config: SamlConfig,
    idp: IdpMetadata,
    query_string: str | None = None,
    form_value: str | None = None,
    tag: str,
) -> tuple[etree._Element, str | None]:
    """Gate, decode and signature-check a logout message; return its root and RelayState."""
    what = f"SAML {tag}"
    relay_state: str | None = None
    if binding == "redirect":
        if query_string is None:
            raise SamlResponseError("malformed", f"{what}: the raw query string is required")
        xml, relay_state = _bindings.decode_redirect(
            query_string,
            param,
            keys=verify_keys(idp),
            accepted_algorithms=config.accepted_signature_algorithms,
            max_bytes=config.max_message_bytes,
            what=what,
        )
    elif binding == "post":
        if form_value is None:
            raise SamlResponseError("malformed", f"{what}: the {param} form field is required")
        xml = decode_post_message(form_value, max_bytes=config.max_message_bytes, what=what)
    else:
        raise SamlResponseError("malformed", f"{what}: unknown binding {binding!r}")
    root = _gate.parse(xml, max_bytes=config.max_message_bytes, what=what)
    if root.tag != qname("samlp", tag) or root.get("Version") != "2.0":
        raise SamlResponseError("malformed", f"{what} root is not a SAML 2.0 samlp:{tag}")
    _gate.signatures_of(root, [root], what)
    sig = root.find("ds:Signature", NS)
    if sig is not None:
        verify_signature(root, sig, config, idp, what)
    elif binding == "post":
        raise SamlResponseError("signature", f"{what} is not signed")
    check_issuer(root, idp, what, required=True)
    if root.get("Destination") != config.logout_url:
        raise SamlResponseError("destination", f"{what} Destination is not our logout URL")
    return root, relay_state


def validate_logout_request(
    root: etree._Element,
    *,
    config: SamlConfig,
    session: SamlSession,
    now: datetime,
) -> ValidatedLogoutRequest:
    """Check freshness and that the request names this session (SAML Core §3.7.3.2)."""
    what = "SAML LogoutRequest"
    check_issue_instant(root, config, now, what)
    not_on_or_after = _instant(root, "NotOnOrAfter", what)
    if not_on_or_after is not None and now >= not_on_or_after + config.clock_skew:
        raise SamlResponseError("expired", f"{what} NotOnOrAfter has passed")
    name_id = root.find("saml:NameID", NS)
    if name_id is None or (name_id.text or "").strip() != session.name_id:
        raise SamlResponseError("name_id", f"{what} NameID does not match the session")
    if (name_id.get("Format") or None) != (session.name_id_format or None) and name_id.get(
        "Format"
    ) is not None:
        raise SamlResponseError("name_id", f"{what} NameID Format does not match the session")
    indexes = [(s.text or "").strip() for s in root.findall("samlp:SessionIndex", NS)]
    if session.session_index is not None and indexes and session.session_index not in indexes:
        raise SamlResponseError("session_index", f"{what} SessionIndex does not match")
    request_id = root.get("ID")
    if not request_id:
        raise SamlResponseError("malformed", f"{what} has no ID")
    return ValidatedLogoutRequest(
        request_id=request_id,
        relay_state=None,
        not_on_or_after=not_on_or_after,
        session_indexes=tuple(indexes),
    )


def validate_logout_response(
    root: etree._Element,
    *,
    config: SamlConfig,
    expected: PendingLogout,
    now: datetime,
) -> None:
    """Check that the LogoutResponse answers ``expected`` with Success."""
    what = "SAML LogoutResponse"
    check_issue_instant(root, config, now, what)
    if root.get("InResponseTo") != expected.request_id:
        raise SamlResponseError("in_response_to", f"{what} does not answer our LogoutRequest")
    status = root.find("samlp:Status/samlp:StatusCode", NS)
    if status is None or status.get("Value") != SUCCESS:
        raise SamlResponseError("status", f"{what} status is not Success")
