"""RPKIT_SAML_AUTHN_BINDING=post: the AuthnRequest goes to the sandbox IdP by HTTP-POST."""

from __future__ import annotations

import base64

import requests
from lxml import etree

from example_app import create_app

from .conftest import Stack
from .helpers import TOMAS, AppServer, app_config, forms, sandbox_pick

DS = "{http://www.w3.org/2000/09/xmldsig#}"


def test_post_binding_login_end_to_end(stack: Stack, http: requests.Session) -> None:
    """The login page auto-posts a signed AuthnRequest; the sandbox answers; /me is signed in."""
    server = AppServer()
    config = {**app_config(server.base_url, stack.sandbox, oidc=False)}
    config["RPKIT_SAML_AUTHN_BINDING"] = "post"
    server.start(create_app(config))
    try:
        stack.sandbox.register_sp(http.get(f"{server.base_url}/auth/saml/metadata").text)
        start = http.get(
            f"{server.base_url}/auth/login/saml", params={"next": "/profile"}, allow_redirects=False
        )
        assert start.status_code == 200, start.text[:300]
        assert 'onload="document.forms[0].submit()"' in start.text
        form = forms(start.text)[0]
        assert form["action"] == stack.sandbox.urls["saml_sso"]
        request_xml = etree.fromstring(base64.b64decode(form["fields"]["SAMLRequest"]))
        assert request_xml.find(DS + "Signature") is not None  # enveloped signature
        page = http.post(form["action"], data=form["fields"], allow_redirects=False)
        posted = sandbox_pick(http, page, TOMAS)
        acs = forms(posted.text)[0]
        answer = http.post(acs["action"], data=acs["fields"], allow_redirects=False)
        assert answer.status_code == 303, answer.text[:300]
        me = http.get(f"{server.base_url}/me").json()
        assert me["protocol"] == "saml" and me["email"] == TOMAS
    finally:
        server.stop()
