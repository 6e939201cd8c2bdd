"""Interop with an IdP none of us wrote: pysaml2's own ``saml2.server.Server``, in-process.

pysaml2 builds the IdP metadata, parses our SP metadata and our AuthnRequest, and builds
the Response. Its signing needs the ``xmlsec1`` binary, which rpkit never uses, so the
test signs pysaml2's response with python-xmlsec (the same way pysaml2 would: enveloped,
exclusive c14n, RSA-SHA256) before posting it to our ACS.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from rpkit.errors import SamlResponseError
from rpkit.saml import SamlConfig, ServiceProvider, load_idp_metadata

from .idp import TestIdp, make_key_pair

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pysaml2 imports a cipher mode cryptography deprecates
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.metadata import entity_descriptor
    from saml2.server import Server

IDP = "http://127.0.0.1/pysaml2-idp"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"


def _idp_conf(tmp: Path, sp_metadata: str | None) -> IdPConfig:
    conf: dict[str, Any] = {
        "entityid": IDP,
        # Constructing the server with this backend spawns nothing; we never ask it to sign.
        "crypto_backend": "XMLSecurity",
        "key_file": str(tmp / "idp.key"),
        "cert_file": str(tmp / "idp.crt"),
        "service": {
            "idp": {
                "endpoints": {
                    "single_sign_on_service": [
                        (IDP + "/sso", BINDING_HTTP_REDIRECT),
                        (IDP + "/sso", BINDING_HTTP_POST),
                    ],
                    "single_logout_service": [(IDP + "/slo", BINDING_HTTP_REDIRECT)],
                },
                "name_id_format": [PERSISTENT],
                "policy": {
                    "default": {
                        "lifetime": {"minutes": 15},
                        "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                    }
                },
            }
        },
    }
    if sp_metadata is not None:
        conf["metadata"] = {"inline": [sp_metadata]}
    config = IdPConfig()
    config.load(conf)
    return config


class Pysaml2Idp:
    def __init__(self, tmp: Path) -> None:
        key, cert = make_key_pair("pysaml2 IdP (throwaway)")
        (tmp / "idp.key").write_bytes(key)
        (tmp / "idp.crt").write_bytes(cert)
        self.tmp = tmp
        self.signer = TestIdp(IDP)
        self.signer.key_pem, self.signer.cert_pem = key, cert
        from rpkit.saml._xmlsec import SigningKey

        self.signer.signing_key = SigningKey(key, cert)
        self.metadata = str(entity_descriptor(_idp_conf(tmp, None))).encode()
        self.server: Server | None = None

    def trust_sp(self, sp_metadata: bytes) -> None:
        self.server = Server(config=_idp_conf(self.tmp, sp_metadata.decode()))

    def answer(self, redirect_url: str, *, sign: str) -> str:
        assert self.server is not None
        query = parse_qs(urlsplit(redirect_url).query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        message = request.message
        response = self.server.create_authn_response(
            {"mail": ["anna.berg@crew.test"], "givenName": ["Anna"], "sn": ["Berg"]},
            in_response_to=message.id,
            destination=message.assertion_consumer_service_url,
            sp_entity_id=message.issuer.text,
            name_id_policy=message.name_id_policy,
            userid="anna",
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_response=False,
            sign_assertion=False,
        )
        root = etree.fromstring(str(response).encode())
        if sign in ("assertion", "both"):
            self.signer.sign(TestIdp.assertion_of(root))
        if sign in ("response", "both"):
            self.signer.sign(root)
        return TestIdp.encode(root)


@pytest.fixture
def pysaml2_idp(tmp_path: Path) -> Iterator[Pysaml2Idp]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield Pysaml2Idp(tmp_path)


@pytest.fixture
def rpkit_sp(pysaml2_idp: Pysaml2Idp, sp_files: tuple[str, str]) -> ServiceProvider:
    config = SamlConfig(
        sp_entity_id="https://app.test/saml",
        acs_url="https://app.test/auth/saml/acs",
        logout_url="https://app.test/auth/saml/logout",
        sp_key_file=sp_files[0],
        sp_cert_file=sp_files[1],
        idp_entity_id=IDP,
        idp_metadata_url=IDP + "/metadata",
    )
    now = datetime.now(UTC)
    metadata = load_idp_metadata(pysaml2_idp.metadata, entity_id=IDP, now=now)
    sp = ServiceProvider(config, metadata=metadata)
    pysaml2_idp.trust_sp(sp.sp_metadata())
    return sp


@pytest.mark.parametrize("sign", ["response", "assertion", "both"])
def test_login_against_pysaml2_idp(
    pysaml2_idp: Pysaml2Idp, rpkit_sp: ServiceProvider, sign: str
) -> None:
    """pysaml2 reads our metadata and AuthnRequest; we accept its response."""
    login = rpkit_sp.start_login(return_to="/crew")
    assert login.message.url is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b64 = pysaml2_idp.answer(login.message.url, sign=sign)
    identity, return_to = rpkit_sp.complete_login(
        b64, login.pending.relay_state, browser_token=login.cookie.value
    )
    assert return_to == "/crew"
    assert identity.issuer == IDP
    assert identity.email == "anna.berg@crew.test"
    assert (identity.given_name, identity.family_name) == ("Anna", "Berg")
    # rpkit sends no NameIDPolicy by default; pysaml2 then picks transient.
    assert identity.claims["name_id_format"] == TRANSIENT


def test_pysaml2_response_without_signature_is_refused(
    pysaml2_idp: Pysaml2Idp, rpkit_sp: ServiceProvider
) -> None:
    """pysaml2's unsigned response (its default for assertions) fails with "signature"."""
    login = rpkit_sp.start_login()
    assert login.message.url is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b64 = pysaml2_idp.answer(login.message.url, sign="none")
    with pytest.raises(SamlResponseError) as info:
        rpkit_sp.complete_login(b64, login.pending.relay_state, browser_token=login.cookie.value)
    assert info.value.reason == "signature"


def _login(pysaml2_idp: Pysaml2Idp, sp: ServiceProvider) -> Any:
    login = sp.start_login()
    assert login.message.url is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b64 = pysaml2_idp.answer(login.message.url, sign="response")
    identity, _ = sp.complete_login(
        b64, login.pending.relay_state, browser_token=login.cookie.value
    )
    return identity


def test_sp_initiated_logout_with_pysaml2_idp(
    pysaml2_idp: Pysaml2Idp, rpkit_sp: ServiceProvider
) -> None:
    """pysaml2 parses our signed LogoutRequest; its LogoutResponse completes our logout."""
    identity = _login(pysaml2_idp, rpkit_sp)
    out = rpkit_sp.start_logout(identity, return_to="/bye")
    assert out.message is not None and out.message.url is not None and out.pending is not None
    server = pysaml2_idp.server
    assert server is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        query = parse_qs(urlsplit(out.message.url).query)
        request = server.parse_logout_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        assert request.message.name_id.text == identity.subject
        response = server.create_logout_response(
            request.message, [BINDING_HTTP_REDIRECT], sign=False
        )
    xml = str(response).encode()
    answer = pysaml2_idp.signer.redirect_query("SAMLResponse", xml, out.pending.relay_state)
    pending = rpkit_sp.process_logout_response(binding="redirect", query_string=answer)
    assert pending.return_to == "/bye"


def test_idp_initiated_logout_from_pysaml2_idp(
    pysaml2_idp: Pysaml2Idp, rpkit_sp: ServiceProvider
) -> None:
    """pysaml2's LogoutRequest for the session, signed over the query, is accepted."""
    from saml2.saml import NameID

    identity = _login(pysaml2_idp, rpkit_sp)
    server = pysaml2_idp.server
    assert server is not None
    claims = identity.claims
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        request = server.create_logout_request(
            "https://app.test/auth/saml/logout",
            "https://app.test/saml",
            name_id=NameID(
                text=identity.subject,
                format=claims["name_id_format"],
                name_qualifier=claims["name_qualifier"],
                sp_name_qualifier=claims["sp_name_qualifier"],
            ),
            session_indexes=[claims["session_index"]],
            sign=False,
        )
    _, message = request
    query = pysaml2_idp.signer.redirect_query("SAMLRequest", str(message).encode(), "idp-state")
    result = rpkit_sp.process_logout_request(
        binding="redirect", query_string=query, session=identity
    )
    assert result.message.url is not None and "SAMLResponse=" in result.message.url
