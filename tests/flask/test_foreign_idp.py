"""The sample app against a foreign SAML IdP (SimpleSAMLphp layout) given only its metadata URL."""

from __future__ import annotations

from pathlib import Path

import requests

from example_app import create_app
from example_app.sandbox import sandbox_url
from tests.saml.foreign_idp import SSO_PATH, ForeignIdp

from .helpers import AppServer, forms


def test_metadata_url_alone_starts_offline_and_signs_in(
    tmp_path: Path, http: requests.Session
) -> None:
    """Only RPKIT_SAML_IDP_METADATA_URL: the app starts without the IdP, then signs in."""
    idp = ForeignIdp(tmp_path)  # bound but not serving yet: unreachable at start-up
    server = AppServer()
    try:
        # RPKIT_BASE_URL only says where the test server listens (the default is :5000).
        app = create_app(
            {"RPKIT_BASE_URL": server.base_url, "RPKIT_SAML_IDP_METADATA_URL": idp.metadata_url}
        )
        assert sandbox_url(server.base_url) is None  # a provider is set: no embedded sandbox
        server.start(app)
        assert idp.hits == []
        idp.start()
        idp.trust_sp(http.get(f"{server.base_url}/auth/saml/metadata").content)
        start = http.get(
            f"{server.base_url}/auth/login/saml", params={"next": "/profile"}, allow_redirects=False
        )
        assert start.status_code == 302, start.text[:300]
        assert start.headers["Location"].startswith(idp.base_url + SSO_PATH + "?SAMLRequest=")
        page = http.get(start.headers["Location"])
        form = forms(page.text)[0]
        answer = http.post(form["action"], data=form["fields"], allow_redirects=False)
        assert answer.status_code == 303, answer.text[:300]
        assert answer.headers["Location"] == "/profile"
        me = http.get(f"{server.base_url}/me").json()
        assert me["issuer"] == idp.entity_id == idp.metadata_url
        assert (me["email"], me["rank"]) == ("anna.berg@crew.test", "Chief Officer")
    finally:
        server.stop()
        idp.close()
