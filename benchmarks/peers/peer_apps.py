"""The peers of the login throughput benchmark: the same logins with other libraries.

``authlib_app()``: an OIDC login with Authlib's Flask client (state in Flask's cookie
session). ``pysaml2_app()``: a SAML SP with pysaml2 (``xmlsec1`` binary for signatures).
Both keep the signed-in user in Flask's cookie session and answer ``GET /me``. Configured
from ``PEER_*`` environment variables set by ``../login_throughput.py``; served by gunicorn.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from flask import Flask, Response, jsonify, redirect, request, session


def _app() -> Flask:
    app = Flask(__name__)
    app.secret_key = os.environ["PEER_SECRET_KEY"]

    @app.get("/me")
    def me() -> Response:
        user = session.get("user")
        if not user:
            return Response(status=401)
        return jsonify({"subject": user})

    return app


def authlib_app() -> Flask:
    """Authlib's Flask OAuth client: authorize_redirect, then authorize_access_token."""
    from authlib.integrations.flask_client import OAuth

    app = _app()
    oauth = OAuth(app)
    issuer = os.environ["PEER_OIDC_ISSUER"]
    oauth.register(
        "op",
        client_id=os.environ["PEER_OIDC_CLIENT_ID"],
        client_secret=os.environ["PEER_OIDC_CLIENT_SECRET"],
        server_metadata_url=issuer + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
    )
    base = os.environ["PEER_BASE_URL"]

    @app.get("/login")
    def login() -> Any:
        return oauth.op.authorize_redirect(base + "/callback")

    @app.get("/callback")
    def callback() -> Any:
        token = oauth.op.authorize_access_token()
        session["user"] = token["userinfo"]["sub"]
        return redirect("/me", 303)

    return app


def pysaml2_app() -> Flask:
    """pysaml2's SP client: prepare_for_authenticate, then parse_authn_request_response."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
        from saml2.client import Saml2Client
        from saml2.config import SPConfig

    app = _app()
    base = os.environ["PEER_BASE_URL"]
    config = SPConfig()
    config.load(
        {
            "entityid": base + "/metadata",
            "xmlsec_binary": os.environ["PEER_XMLSEC1"],
            "key_file": os.environ["PEER_SP_KEY_FILE"],
            "cert_file": os.environ["PEER_SP_CERT_FILE"],
            "metadata": {"local": [os.environ["PEER_IDP_METADATA_FILE"]]},
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(base + "/acs", BINDING_HTTP_POST)]
                    },
                    "want_response_signed": True,
                    "want_assertions_signed": False,
                    "allow_unsolicited": False,
                    "authn_requests_signed": False,
                }
            },
        }
    )
    client = Saml2Client(config=config)
    outstanding: dict[str, str] = {}  # one sync worker: process memory is the store

    @app.get("/login")
    def login() -> Any:
        request_id, info = client.prepare_for_authenticate(
            relay_state="/me", binding=BINDING_HTTP_REDIRECT
        )
        outstanding[request_id] = "/me"
        return redirect(dict(info["headers"])["Location"], 302)

    @app.post("/acs")
    def acs() -> Any:
        result = client.parse_authn_request_response(
            request.form["SAMLResponse"], BINDING_HTTP_POST, outstanding=outstanding
        )
        if result is None:
            return Response("refused", status=400)
        outstanding.pop(result.in_response_to, None)
        session["user"] = result.name_id.text
        return redirect("/me", 303)

    return app
