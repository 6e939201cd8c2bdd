"""The sample app against the sandbox's RSK-shaped SAML: opaque unspecified NameID, claim URIs."""

from __future__ import annotations

import base64

import requests
from lxml import etree

from .conftest import Stack
from .helpers import TOMAS, saml_acs_post

NS = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}
WS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"


def test_rsk_shaped_response_gives_me_with_email_name_and_rank(
    stack: Stack, http: requests.Session
) -> None:
    """NameID unspecified (the opaque user id), attributes under claim URIs: /me is complete."""
    action, fields = saml_acs_post(http, stack.base_url, TOMAS)
    assertion = etree.fromstring(base64.b64decode(fields["SAMLResponse"]))
    name_id = assertion.find(".//saml:Subject/saml:NameID", NS)
    assert name_id is not None
    assert name_id.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    names = {a.get("Name") for a in assertion.iterfind(".//saml:Attribute", NS)}
    assert {WS + "emailaddress", WS + "name", "rank"} <= names
    assert "email" not in names and "name" not in names  # no short names in RSK mode
    answer = http.post(action, data=fields, allow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    me = http.get(f"{stack.base_url}/me").json()
    member = stack.sandbox.state.store.find_user(TOMAS)
    assert member is not None
    assert me["subject"] == member.id == name_id.text and "@" not in me["subject"]
    assert (me["email"], me["name"], me["rank"]) == (TOMAS, "Tomas Berg", "Chief Officer")
    assert me["issuer"] == stack.sandbox.issuer
