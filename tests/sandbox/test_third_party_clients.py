"""Logins by clients none of us wrote: Authlib's OAuth2Session (OIDC) and pysaml2's SP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import xmlsec
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from lxml import etree

from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxHandle

from .helpers import DEMO_REDIRECT_URI, INGRID, form_action, form_fields
from .saml_helpers import RSA_SHA256, SP_ACS, SP_CERT, SP_ENTITY_ID, SP_KEY


def test_authlib_oauth2_session_code_flow_with_pkce(sandbox: SandboxHandle) -> None:
    """Authlib's own client completes code + PKCE and the ID token verifies against JWKS."""
    meta = requests.get(sandbox.urls["discovery"], timeout=10).json()
    client = OAuth2Session(
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        scope="openid profile email crew.public",
        redirect_uri=DEMO_REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = "v" * 20 + base64.urlsafe_b64encode(b"rpkit-sandbox-pkce-verifier").decode()
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6"
    )
    with requests.Session() as browser:
        page = browser.get(url, timeout=10)
        answer = browser.post(page.url, data={"card": INGRID}, allow_redirects=False, timeout=10)
    callback = answer.headers["Location"]
    token = client.fetch_token(
        meta["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
    )
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"essential": True, "value": sandbox.issuer}},
        {"nonce": "n-0S6", "client_id": DEMO_CLIENT_ID, "access_token": token["access_token"]},
    )
    claims.validate()
    assert claims["iss"] == meta["issuer"] == sandbox.issuer
    assert "rank" not in claims  # Duende's default: user claims only in userinfo
    info = client.get(meta["userinfo_endpoint"]).json()
    assert info["email"] == INGRID and info["rank"] == "Master"


class _InProcessXmlsec:
    """A pysaml2 CryptoBackend verifying with python-xmlsec (no xmlsec1 binary)."""

    def __init__(self) -> None:
        self.verified: list[str] = []

    def version(self) -> str:
        return "python-xmlsec"

    def validate_signature(
        self, signedtext: Any, cert_file: str, cert_type: str, node_name: str, node_id: str
    ) -> bool:
        data = signedtext.encode() if isinstance(signedtext, str) else signedtext
        root = etree.fromstring(data)
        node = root if root.get("ID") == node_id else root.find(f".//*[@ID='{node_id}']")
        if node is None:
            return False
        signature = node.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
        if signature is None:
            return False
        fmt = (
            xmlsec.constants.KeyDataFormatCertPem
            if cert_type == "pem"
            else xmlsec.constants.KeyDataFormatCertDer
        )
        ctx = xmlsec.SignatureContext()
        ctx.key = xmlsec.Key.from_file(cert_file, fmt)
        ctx.register_id(node, "ID")
        try:
            ctx.verify(signature)
        except xmlsec.Error:
            return False
        self.verified.append(node_name)
        return True


@pytest.fixture
def saml2_client(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[Any]:
    """A pysaml2 SP (the demo SP's entity ID) trusting the sandbox's metadata."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    metadata = requests.get(sandbox.urls["saml_metadata"], timeout=10).text
    config = SPConfig()
    config.load(
        {
            "entityid": SP_ENTITY_ID,
            # pysaml2 insists on an xmlsec1 path; any existing file will do because the
            # crypto backend is replaced by python-xmlsec below and never runs a binary.
            "xmlsec_binary": __file__,
            # The demo SP's registered key pair: the sandbox, like RSK, wants signed requests.
            "key_file": str(SP_KEY),
            "cert_file": str(SP_CERT),
            "metadata": {"inline": [metadata]},
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(SP_ACS, BINDING_HTTP_POST)],
                        "single_logout_service": [
                            ("http://127.0.0.1:5000/auth/saml/slo", BINDING_HTTP_REDIRECT)
                        ],
                    },
                    "authn_requests_signed": True,
                    "want_assertions_signed": True,
                    "want_response_signed": True,
                    "allow_unsolicited": False,
                    "name_id_format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                }
            },
        }
    )
    client = Saml2Client(config)
    client.sec.crypto = _InProcessXmlsec()
    yield client


def test_pysaml2_sp_login(sandbox: SandboxHandle, saml2_client: Any) -> None:
    """pysaml2's SP sends a signed AuthnRequest (Redirect) and accepts the signed response."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

    request_id, info = saml2_client.prepare_for_authenticate(
        entityid=sandbox.issuer,
        relay_state="/home",
        binding=BINDING_HTTP_REDIRECT,
        sigalg=RSA_SHA256,
    )
    location = dict(info["headers"])["Location"]
    with requests.Session() as browser:
        page = browser.get(location, timeout=10)
        answer = browser.post(
            form_action(page.text), data={**form_fields(page.text), "card": INGRID}, timeout=10
        )
    fields = form_fields(answer.text)
    assert form_action(answer.text) == SP_ACS and fields["RelayState"] == "/home"
    response = saml2_client.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/home"}
    )
    assert response is not None
    member = sandbox.state.store.find_user(INGRID)
    assert member is not None
    assert response.name_id.text == member.id  # unspecified: the opaque user id
    identity = response.get_identity()
    # RSK's shape: the mapped claims under WS-Fed claim URIs, rank under its own name.
    ws = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
    assert identity == {
        ws + "emailaddress": [INGRID],
        ws + "givenname": ["Ingrid"],
        ws + "surname": ["Larsen"],
        ws + "name": ["Ingrid Larsen"],
        "rank": ["Master"],
    }
    # Both the response and the assertion signature were checked in-process.
    assert len(saml2_client.sec.crypto.verified) >= 2


def test_pysaml2_rejects_a_tampered_response(sandbox: SandboxHandle, saml2_client: Any) -> None:
    """A modified assertion fails pysaml2's signature check (the signatures are real)."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

    request_id, info = saml2_client.prepare_for_authenticate(
        entityid=sandbox.issuer, binding=BINDING_HTTP_REDIRECT, sigalg=RSA_SHA256
    )
    with requests.Session() as browser:
        page = browser.get(dict(info["headers"])["Location"], timeout=10)
        answer = browser.post(
            form_action(page.text), data={**form_fields(page.text), "card": INGRID}, timeout=10
        )
    xml = base64.b64decode(form_fields(answer.text)["SAMLResponse"]).replace(b"Master", b"Admin")
    with pytest.raises(Exception):  # noqa: B017 - pysaml2 raises several unrelated types
        saml2_client.parse_authn_request_response(
            base64.b64encode(xml).decode(), BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
