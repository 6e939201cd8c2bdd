"""Bearer-token API, back-channel logout, and the app's behaviour when IdPs are missing."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests
from joserfc import jwt

from example_app import create_app

from .conftest import Stack
from .helpers import (
    INGRID,
    JONAS,
    AppServer,
    app_config,
    free_port,
    oidc_login,
    saml_login,
    sandbox_for,
)


def test_bearer_api(stack: Stack, http: requests.Session) -> None:
    """/api/crew/me accepts a sandbox access token and refuses none, junk or a bad scope."""
    token = stack.sandbox.password_tokens(JONAS)["access_token"]
    ok = http.get(f"{stack.base_url}/api/crew/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["issuer"] == stack.sandbox.issuer and body["subject"]
    assert "openid" in body["scopes"]
    missing = http.get(f"{stack.base_url}/api/crew/me")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.json()["correlation_id"]
    junk = http.get(f"{stack.base_url}/api/crew/me", headers={"Authorization": "Bearer abc.def"})
    assert junk.status_code == 401
    assert 'error="invalid_token"' in junk.headers["WWW-Authenticate"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    bad = http.get(f"{stack.base_url}/api/crew/me", headers={"Authorization": f"Bearer {tampered}"})
    assert bad.status_code == 401


def _api(stack: Stack, http: requests.Session, token: str) -> requests.Response:
    return http.get(f"{stack.base_url}/api/crew/me", headers={"Authorization": f"Bearer {token}"})


def test_bearer_api_refuses_a_token_minted_for_another_client(
    stack: Stack, http: requests.Session
) -> None:
    """A real sandbox token issued to the SCIM client (another audience) gets 401 audience."""
    token = stack.sandbox.scim_token()
    answer = _api(stack, http, token)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "token_error:audience"
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


@pytest.mark.parametrize("nonce", ["n-0S6_WzA2Mj", None], ids=["login", "refresh_no_nonce"])
def test_bearer_api_refuses_an_id_token(
    stack: Stack, http: requests.Session, nonce: str | None
) -> None:
    """An ID token signed by the sandbox's real key (typ JWT, aud the demo client) gets 401 typ."""
    key = stack.sandbox.state.keys.signing_key
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": stack.sandbox.issuer,
        "aud": "rpkit-demo",
        "client_id": "rpkit-demo",
        "sub": "crew-1",
        "iat": now,
        "exp": now + 300,
        "scope": "openid crew.public",
    }
    if nonce is not None:
        claims["nonce"] = nonce
    id_token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)
    answer = _api(stack, http, id_token)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "token_error:typ"


def test_sample_app_without_an_api_audience_signs_in_but_refuses_every_token(
    tmp_path: Path, http: requests.Session
) -> None:
    """No audience configured: the app starts and signs people in; its API answers 401."""
    server = AppServer()
    with sandbox_for(tmp_path, [server.base_url]) as sandbox:
        config = app_config(server.base_url, sandbox, saml=False)
        del config["RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS"]
        server.start(create_app(config))
        try:
            assert oidc_login(http, server.base_url, JONAS).status_code == 303
            assert http.get(f"{server.base_url}/me").json()["authenticated"]
            token = sandbox.password_tokens(JONAS)["access_token"]
            answer = requests.get(
                f"{server.base_url}/api/crew/me",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"] == "api_not_configured"
            assert "RPKIT_OIDC_ACCESS_TOKEN_AUDIENCE" in answer.json()["message"]
            assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
        finally:
            server.stop()


def _logout_token(stack: Stack, **claims: object) -> str:
    key = stack.sandbox.state.keys.signing_key
    now = int(time.time())
    payload = {
        "iss": stack.sandbox.issuer,
        "aud": "rpkit-demo",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        **claims,
    }
    header = {"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}
    return jwt.encode(header, payload, key)


def test_backchannel_logout(stack: Stack) -> None:
    """A valid logout token ends that user's OIDC sessions; a replay or forgery is 400."""
    with requests.Session() as one, requests.Session() as two, requests.Session() as other:
        oidc_login(one, stack.base_url, INGRID)
        oidc_login(two, stack.base_url, INGRID)
        oidc_login(other, stack.base_url, JONAS)
        sub = one.get(f"{stack.base_url}/me").json()["subject"]
        url = f"{stack.base_url}/auth/oidc/backchannel-logout"
        token = _logout_token(stack, sub=sub, sid="no-session-has-this-sid")
        answer = requests.post(url, data={"logout_token": token}, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "no-store"
        assert one.get(f"{stack.base_url}/me").status_code == 401
        assert two.get(f"{stack.base_url}/me").status_code == 401
        assert other.get(f"{stack.base_url}/me").status_code == 200
        assert requests.post(url, data={"logout_token": token}, timeout=10).status_code == 400
        assert requests.post(url, data={"logout_token": "x.y.z"}, timeout=10).status_code == 400
        assert requests.post(url, timeout=10).status_code == 400


def test_starts_with_unreachable_idp() -> None:
    """With Dualog unreachable the app starts and serves; login shows a clear error page."""
    dead = f"http://127.0.0.1:{free_port()}"
    app = create_app(
        {
            "RPKIT_SANDBOX": "off",
            "RPKIT_OIDC_ISSUER": f"{dead}/auth",
            "RPKIT_OIDC_CLIENT_ID": "c",
            "RPKIT_OIDC_CLIENT_SECRET": "s",
            "RPKIT_HTTP_TIMEOUT": "2",
            "RPKIT_SAML_IDP_METADATA_URL": f"{dead}/auth/saml/metadata",
        }
    )
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/me").status_code == 401
    for protocol in ("oidc", "saml"):
        answer = client.get(f"/auth/login/{protocol}")
        assert answer.status_code == 503, answer.text
        text = answer.get_data(as_text=True)
        assert "unreachable" in text and "Correlation id" in text
        assert not answer.headers.getlist("Set-Cookie") or all(
            "rpkit_session" not in c for c in answer.headers.getlist("Set-Cookie")
        )
    api = client.get("/auth/login/oidc", headers={"Accept": "application/json"})
    assert api.status_code == 503 and api.json["error"] == "provider_unavailable"  # type: ignore[index]


def test_only_oidc_configured(stack: Stack) -> None:
    """With only the OIDC variables the SAML button is hidden and its routes answer 404."""
    app = create_app(
        {
            "RPKIT_SANDBOX": "off",
            "RPKIT_OIDC_ISSUER": stack.sandbox.issuer,
            "RPKIT_OIDC_CLIENT_ID": "rpkit-demo",
            "RPKIT_OIDC_CLIENT_SECRET": "rpkit-demo-secret",
        }
    )
    client = app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert "Sign in with Dualog (OIDC)" in home and "(SAML)" not in home
    for path in ("/auth/login/saml", "/auth/saml/metadata"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert "SAML is not configured" in answer.get_data(as_text=True)
    assert client.post("/auth/saml/acs").status_code == 404


def test_only_saml_configured(stack: Stack) -> None:
    """With only the SAML metadata URL the OIDC button is hidden and its routes answer 404."""
    app = create_app(
        {"RPKIT_SANDBOX": "off", "RPKIT_SAML_IDP_METADATA_URL": stack.sandbox.urls["saml_metadata"]}
    )
    client = app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert "Sign in with Dualog (SAML)" in home and "(OIDC)" not in home
    assert client.get("/auth/login/oidc").status_code == 404
    assert client.get("/auth/login").status_code == 303  # straight to the only protocol
    metadata = client.get("/auth/saml/metadata")
    assert metadata.status_code == 200
    assert b'entityID="http://127.0.0.1:5000/auth/saml/metadata"' in metadata.data


def test_unknown_pages_are_friendly(stack: Stack, http: requests.Session) -> None:
    """404 and 405 are friendly pages (or JSON) with a correlation id."""
    page = http.get(f"{stack.base_url}/no-such-page")
    assert page.status_code == 404 and "Correlation id" in page.text
    api = http.get(f"{stack.base_url}/no-such-page", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json()["correlation_id"]


def test_saml_session_profile(stack: Stack, http: requests.Session) -> None:
    """The profile page shows name, rank, ship and protocol after a SAML login."""
    saml_login(http, stack.base_url, JONAS)
    page = http.get(f"{stack.base_url}/profile").text
    assert "AB" in page and "Able Seaman" in page and "MT Polar Voyager" in page
    assert "SAML" in page
