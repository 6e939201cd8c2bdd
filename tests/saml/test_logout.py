"""Single logout: SP-initiated round trip, IdP-initiated requests signed, fresh and matching."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from rpkit.errors import SamlResponseError
from rpkit.saml import SamlSession, ServiceProvider, load_idp_metadata

from .idp import IDP_ENTITY_ID, NOW, PERSISTENT, SLO_URL, TestIdp

SESSION = SamlSession(
    issuer=IDP_ENTITY_ID,
    name_id="crew-4711",
    name_id_format=PERSISTENT,
    session_index="_session1",
)


def _reason(call: Callable[[], object]) -> str:
    with pytest.raises(SamlResponseError) as info:
        call()
    return info.value.reason


def test_sp_initiated_logout_round_trip(idp: TestIdp, sp: ServiceProvider) -> None:
    """start_logout signs a LogoutRequest; the IdP's signed LogoutResponse completes it."""
    out = sp.start_logout(SESSION, return_to="/bye")
    assert out.message is not None and out.pending is not None
    assert out.message.url is not None and out.message.url.startswith(SLO_URL + "?")
    query = parse_qs(urlsplit(out.message.url).query)
    assert "Signature" in query
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    request = etree.fromstring(xml)
    assert request.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}NameID") == "crew-4711"
    answer = idp.redirect_query(
        "SAMLResponse", idp.logout_response(out.pending.request_id), out.pending.relay_state
    )
    pending = sp.process_logout_response(binding="redirect", query_string=answer)
    assert pending.return_to == "/bye"


def test_logout_response_for_another_request_is_rejected(idp: TestIdp, sp: ServiceProvider) -> None:
    """A LogoutResponse whose InResponseTo is not our request fails."""
    out = sp.start_logout(SESSION)
    assert out.pending is not None
    answer = idp.redirect_query(
        "SAMLResponse", idp.logout_response("_someone_else"), out.pending.relay_state
    )
    reason = _reason(lambda: sp.process_logout_response(binding="redirect", query_string=answer))
    assert reason == "in_response_to"


def test_local_logout_when_idp_has_no_slo(
    idp: TestIdp, make_sp: Callable[..., ServiceProvider]
) -> None:
    """Without a logout endpoint in the metadata, start_logout means local logout."""
    sp = make_sp()
    sp.metadata = load_idp_metadata(idp.metadata(slo=False), entity_id=idp.entity_id, now=NOW)
    out = sp.start_logout(SESSION)
    assert out.message is None and out.pending is None


def test_idp_initiated_redirect_logout_is_answered(idp: TestIdp, sp: ServiceProvider) -> None:
    """A signed, fresh, matching LogoutRequest yields a signed LogoutResponse to send."""
    query = idp.redirect_query("SAMLRequest", idp.logout_request(), "opaque-idp-state")
    result = sp.process_logout_request(binding="redirect", query_string=query, session=SESSION)
    assert result.message.url is not None
    params = parse_qs(urlsplit(result.message.url).query)
    assert params["RelayState"] == ["opaque-idp-state"] and "Signature" in params


def test_idp_initiated_post_logout_is_answered(idp: TestIdp, sp: ServiceProvider) -> None:
    """The POST binding needs an enveloped XML signature on the LogoutRequest."""
    form_value = idp.post_signed(idp.logout_request())
    result = sp.process_logout_request(binding="post", saml_request=form_value, session=SESSION)
    assert result.request_id


LOGOUT_VECTORS: list[tuple[str, str, Callable[[TestIdp], dict[str, Any]]]] = [
    (
        "unsigned_logout_request_redirect",
        "signature",
        lambda idp: {
            "binding": "redirect",
            "query_string": idp.redirect_query(
                "SAMLRequest", idp.logout_request(), None, signed=False
            ),
        },
    ),
    (
        "unsigned_logout_request_post",
        "signature",
        lambda idp: {
            "binding": "post",
            "saml_request": base64.b64encode(idp.logout_request()).decode(),
        },
    ),
    (
        "relay_state_changed_after_signing",
        "signature",
        lambda idp: {
            "binding": "redirect",
            "query_string": idp.redirect_query("SAMLRequest", idp.logout_request(), "a").replace(
                "RelayState=a", "RelayState=b"
            ),
        },
    ),
    (
        "stale_logout_request",
        "expired",
        lambda idp: {
            "binding": "redirect",
            "query_string": idp.redirect_query(
                "SAMLRequest", idp.logout_request(issue_instant=NOW - timedelta(hours=1)), None
            ),
        },
    ),
    (
        "other_name_id",
        "name_id",
        lambda idp: {
            "binding": "redirect",
            "query_string": idp.redirect_query(
                "SAMLRequest", idp.logout_request(name_id="crew-0001"), None
            ),
        },
    ),
    (
        "other_session_index",
        "session_index",
        lambda idp: {
            "binding": "redirect",
            "query_string": idp.redirect_query(
                "SAMLRequest", idp.logout_request(session_index="_other"), None
            ),
        },
    ),
    (
        "wrong_destination",
        "destination",
        lambda idp: {
            "binding": "redirect",
            "query_string": idp.redirect_query(
                "SAMLRequest", idp.logout_request(destination="https://other.test/slo"), None
            ),
        },
    ),
]


@pytest.mark.parametrize(
    ("reason", "build"),
    [(r, b) for _, r, b in LOGOUT_VECTORS],
    ids=[i for i, _, _ in LOGOUT_VECTORS],
)
def test_hostile_logout_request_is_rejected(
    idp: TestIdp, sp: ServiceProvider, reason: str, build: Callable[[TestIdp], dict[str, Any]]
) -> None:
    """Each defective IdP-initiated LogoutRequest raises with its reason."""
    kwargs = build(idp)
    assert _reason(lambda: sp.process_logout_request(session=SESSION, **kwargs)) == reason


def test_sha1_redirect_signature_is_rejected(idp: TestIdp, sp: ServiceProvider) -> None:
    """A Redirect-binding signature with SigAlg rsa-sha1 fails with reason "algorithm"."""
    from rpkit.saml import _bindings

    url = _bindings.encode_redirect(
        "https://x.test/",
        "SAMLRequest",
        idp.logout_request(),
        None,
        idp.signing_key,
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    )
    query = url.split("?", 1)[1]
    reason = _reason(
        lambda: sp.process_logout_request(binding="redirect", query_string=query, session=SESSION)
    )
    assert reason == "algorithm"


def test_replayed_logout_request_is_rejected(idp: TestIdp, sp: ServiceProvider) -> None:
    """The same LogoutRequest processed twice fails with reason "replay"."""
    query = idp.redirect_query("SAMLRequest", idp.logout_request(), None)
    sp.process_logout_request(binding="redirect", query_string=query, session=SESSION)
    reason = _reason(
        lambda: sp.process_logout_request(binding="redirect", query_string=query, session=SESSION)
    )
    assert reason == "replay"
