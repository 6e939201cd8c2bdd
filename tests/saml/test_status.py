"""A non-success status: the user's refusal, or the IdP blaming this SP's configuration."""

from __future__ import annotations

import pytest
from lxml import etree

from rpkit.errors import SamlResponseError
from rpkit.saml import PendingRequest, ServiceProvider
from rpkit.saml._gate import NS
from rpkit.web.pages import describe

from .idp import NOW, ResponseSpec, TestIdp

STATUS = "urn:oasis:names:tc:SAML:2.0:status:"


def _error_response(idp: TestIdp, top: str, sub: str | None, *, signed: bool) -> str:
    response = idp.build_response(ResponseSpec(status=STATUS + top))
    response.remove(idp.assertion_of(response))
    if sub is not None:
        code = response.find("samlp:Status/samlp:StatusCode", NS)
        assert code is not None
        etree.SubElement(code, f"{{{NS['samlp']}}}StatusCode", Value=STATUS + sub)
    if signed:
        idp.sign(response)
    return idp.encode(response)


@pytest.mark.parametrize(
    ("top", "sub", "signed", "reason", "setting"),
    [
        ("Requester", "InvalidNameIDPolicy", True, "sp_rejected", "RPKIT_SAML_NAME_ID_FORMAT"),
        ("Requester", "UnsupportedBinding", True, "sp_rejected", "RPKIT_SAML_AUTHN_BINDING"),
        ("Responder", "RequestUnsupported", True, "sp_rejected", "RPKIT_SAML_SP_ENTITY_ID"),
        ("Requester", "InvalidNameIDPolicy", False, "status", None),
        ("Responder", "AuthnFailed", True, "status", None),
        ("Requester", "RequestDenied", True, "status", None),
        ("Responder", None, True, "status", None),
    ],
    ids=[
        "name_id_policy",
        "binding",
        "request_unsupported",
        "unsigned_status_blames_nobody",
        "authn_failed",
        "request_denied",
        "responder",
    ],
)
def test_status_is_classed(
    idp: TestIdp,
    sp: ServiceProvider,
    pending: PendingRequest,
    top: str,
    sub: str | None,
    signed: bool,
    reason: str,
    setting: str | None,
) -> None:
    """A signed status that blames this SP's request names the setting; the rest are "status"."""
    saml_response = _error_response(idp, top, sub, signed=signed)
    with pytest.raises(SamlResponseError) as exc:
        sp.process_response(saml_response, pending.relay_state, expected=pending, now=NOW)
    assert exc.value.reason == reason
    if setting is not None:
        assert setting in exc.value.message
        assert describe(exc.value)[0] == 502 and "misconfigured" in describe(exc.value)[1]
    else:
        assert describe(exc.value)[0] == 400
