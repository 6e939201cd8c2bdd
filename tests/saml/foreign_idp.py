"""A foreign IdP on loopback, laid out like SimpleSAMLphp: pysaml2's own ``Server``.

Metadata is served at ``/saml2/idp/metadata.php`` and its entity ID is that URL, as
SimpleSAMLphp does; single sign-on is ``/saml2/idp/SSOService.php`` (HTTP-Redirect and
HTTP-POST). pysaml2 reads the AuthnRequest and builds the Response; it would sign through
the ``xmlsec1`` binary, which rpkit never uses, so the response is signed (Response and
Assertion) with python-xmlsec before it is posted back. Attributes go out under pysaml2's
URI names (the X.500 OIDs) plus the ``rank`` claim under its own name.
"""

from __future__ import annotations

import html
import threading
import warnings
from pathlib import Path
from typing import Any

from lxml import etree
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from rpkit.saml._xmlsec import SigningKey

from .idp import SAML, TestIdp, make_key_pair

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pysaml2 imports a cipher mode cryptography deprecates
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.metadata import entity_descriptor
    from saml2.server import Server

METADATA_PATH = "/saml2/idp/metadata.php"
SSO_PATH = "/saml2/idp/SSOService.php"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
USER = {"mail": ["anna.berg@crew.test"], "givenName": ["Anna"], "sn": ["Berg"]}


class ForeignIdp:
    """pysaml2 behind a werkzeug server on a free loopback port; call :meth:`close`."""

    def __init__(self, tmp: Path, *, rank: str | None = "Chief Officer") -> None:
        self.tmp = tmp
        self.rank = rank
        key, cert = make_key_pair("foreign IdP (throwaway)")
        (tmp / "idp.key").write_bytes(key)
        (tmp / "idp.crt").write_bytes(cert)
        self.signer = TestIdp()
        self.signer.key_pem, self.signer.cert_pem = key, cert
        self.signer.signing_key = SigningKey(key, cert)
        self.hits: list[str] = []
        self._sp_metadata: str | None = None
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self.entity_id = self.metadata_url = self.base_url + METADATA_PATH
        self.signer.entity_id = self.entity_id
        self._thread: threading.Thread | None = None

    def start(self) -> ForeignIdp:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def trust_sp(self, sp_metadata: bytes) -> None:
        """Register the SP, as an admin would add it to SimpleSAMLphp's saml20-sp-remote."""
        self._sp_metadata = sp_metadata.decode()

    def _config(self) -> IdPConfig:
        sso = self.base_url + SSO_PATH
        conf: dict[str, Any] = {
            "entityid": self.entity_id,
            "crypto_backend": "XMLSecurity",  # built, never asked to sign
            "key_file": str(self.tmp / "idp.key"),
            "cert_file": str(self.tmp / "idp.crt"),
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [
                            (sso, BINDING_HTTP_REDIRECT),
                            (sso, BINDING_HTTP_POST),
                        ],
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
        if self._sp_metadata is not None:
            conf["metadata"] = {"inline": [self._sp_metadata]}
        config = IdPConfig()
        config.load(conf)
        return config

    def metadata(self) -> bytes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return str(entity_descriptor(self._config())).encode()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.hits.append(request.path)
        if request.path == METADATA_PATH:
            response = Response(self.metadata(), mimetype="application/samlmetadata+xml")
        elif request.path == SSO_PATH:
            response = self._sso(request)
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    def _sso(self, request: Request) -> Response:
        binding = BINDING_HTTP_POST if request.method == "POST" else BINDING_HTTP_REDIRECT
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = Server(config=self._config())
            parsed = server.parse_authn_request(request.values["SAMLRequest"], binding)
            message = parsed.message
            answer = server.create_authn_response(
                USER,
                in_response_to=message.id,
                destination=message.assertion_consumer_service_url,
                sp_entity_id=message.issuer.text,
                name_id_policy=message.name_id_policy,
                userid="anna",
                authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
                sign_response=False,
                sign_assertion=False,
            )
        root = etree.fromstring(str(answer).encode())
        assertion = TestIdp.assertion_of(root)
        if self.rank is not None:
            statement = assertion.find(f"{{{SAML}}}AttributeStatement")
            assert statement is not None
            attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name="rank")
            etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = self.rank
        self.signer.sign(assertion)
        self.signer.sign(root)
        fields = {"SAMLResponse": TestIdp.encode(root)}
        if request.values.get("RelayState"):
            fields["RelayState"] = request.values["RelayState"]
        inputs = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in fields.items()
        )
        page = (
            f'<html><body onload="document.forms[0].submit()"><form method="post" '
            f'action="{html.escape(message.assertion_consumer_service_url)}">{inputs}'
            "<noscript><button>Continue</button></noscript></form></body></html>"
        )
        return Response(page, mimetype="text/html")
