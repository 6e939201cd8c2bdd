"""The OIDC provider over real HTTP: discovery, login page, grants, userinfo, logout."""

from __future__ import annotations

import re

import pytest
import requests
from joserfc import jwt

from rpkit.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PASSWORD,
    SCIM_CLIENT_ID,
    SCIM_CLIENT_SECRET,
    SandboxHandle,
)

from .helpers import (
    ANA,
    DEMO_REDIRECT_URI,
    INGRID,
    LENA,
    PIOTR,
    TOMAS,
    authorize_params,
    form_action,
    form_fields,
    pick_card,
    pkce_pair,
    query_of,
)


def _verify(sandbox: SandboxHandle, token: str) -> dict[str, object]:
    keys = sandbox.key_set()
    return dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)


def _code_login(sandbox: SandboxHandle, user: str, **extra: str) -> dict[str, object]:
    verifier, challenge = pkce_pair()
    params = authorize_params(challenge, **extra)
    with requests.Session() as http:
        answer = pick_card(http, sandbox, params, user)
    assert answer.status_code == 302
    back = query_of(answer.headers["Location"])
    assert back["state"] == params["state"]
    tokens = requests.post(
        sandbox.urls["token"],
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": DEMO_REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        timeout=10,
    ).json()
    claims = _verify(sandbox, tokens["id_token"])
    assert claims["nonce"] == params["nonce"]
    return {"tokens": tokens, "claims": claims}


def test_discovery_uses_dualog_paths(sandbox: SandboxHandle) -> None:
    """The discovery document names Dualog's endpoint paths under <base>/auth."""
    doc = requests.get(sandbox.urls["discovery"], timeout=10).json()
    issuer = sandbox.base_url + "/auth"
    assert doc["issuer"] == issuer
    assert doc["authorization_endpoint"] == issuer + "/connect/authorize"
    assert doc["token_endpoint"] == issuer + "/connect/token"
    assert doc["userinfo_endpoint"] == issuer + "/connect/userinfo"
    assert doc["jwks_uri"] == issuer + "/.well-known/openid-configuration/jwks"
    assert doc["end_session_endpoint"] == issuer + "/connect/endsession"
    assert doc["code_challenge_methods_supported"] == ["plain", "S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["frontchannel_logout_supported"] is True
    assert doc["frontchannel_logout_session_supported"] is True
    assert "crew.public" in doc["scopes_supported"]
    assert set(doc["response_modes_supported"]) == {"query", "form_post"}


def test_jwks_publishes_rsa_signing_keys(sandbox: SandboxHandle) -> None:
    """The JWKS holds public RS256 keys only."""
    keys = sandbox.jwks()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and "d" not in k for k in keys)


def _userinfo(sandbox: SandboxHandle, access_token: str) -> dict[str, object]:
    answer = requests.get(
        sandbox.urls["userinfo"], headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    info: dict[str, object] = answer.json()
    return info


def test_code_flow_id_token_has_protocol_claims_only(sandbox: SandboxHandle) -> None:
    """As Duende by default: the ID token carries protocol claims only (no azp, 300 s);
    rank and the crew claims come from userinfo."""
    result = _code_login(sandbox, INGRID)
    claims = result["claims"]
    assert isinstance(claims, dict)
    assert claims["iss"] == sandbox.issuer
    assert claims["aud"] == DEMO_CLIENT_ID
    assert set(claims) == {
        "iss", "aud", "exp", "iat", "nbf", "sub", "sid", "auth_time", "idp", "amr",
        "nonce", "at_hash",
    }  # fmt: skip
    assert claims["exp"] - claims["iat"] == 300
    tokens = result["tokens"]
    assert isinstance(tokens, dict)
    info = _userinfo(sandbox, tokens["access_token"])
    assert info["sub"] == claims["sub"]
    assert info["rank"] == "Master" and info["email"] == INGRID
    assert info["given_name"] == "Ingrid" and info["ship_imo"] == "9312456"
    assert info["ship_name"] == "MV Nordic Aurora" and info["department"] == "Deck"


def test_rank_is_present_without_profile_scopes(sandbox: SandboxHandle) -> None:
    """`rank` is always in userinfo, even for scope=openid alone."""
    tokens = _code_login(sandbox, TOMAS, scope="openid")["tokens"]
    assert isinstance(tokens, dict)
    info = _userinfo(sandbox, tokens["access_token"])
    assert info["rank"] == "Chief Officer"
    assert "email" not in info and "ship_name" not in info


def test_password_form_login(sandbox: SandboxHandle) -> None:
    """Email and password on the login page sign in; a wrong password shows a message."""
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    with requests.Session() as http:
        page = http.get(sandbox.urls["authorize"], params=params, timeout=10)
        wrong = http.post(page.url, data={"username": INGRID, "password": "nope"}, timeout=10)
        assert wrong.status_code == 403
        assert "data-testid=login-error" in wrong.text
        assert "wrong password" in wrong.text
        right = http.post(
            page.url,
            data={"username": INGRID, "password": DEMO_PASSWORD},
            allow_redirects=False,
            timeout=10,
        )
    assert right.status_code == 302
    assert "code" in query_of(right.headers["Location"])


def test_deny_returns_access_denied(sandbox: SandboxHandle) -> None:
    """The Deny button redirects with error=access_denied and the state."""
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    with requests.Session() as http:
        page = http.get(sandbox.urls["authorize"], params=params, timeout=10)
        assert "id=deny" in page.text
        answer = http.post(page.url, data={"deny": "1"}, allow_redirects=False, timeout=10)
    back = query_of(answer.headers["Location"])
    assert back["error"] == "access_denied"
    assert back["state"] == params["state"]


@pytest.mark.parametrize(
    ("user", "text"),
    [(LENA, "inactive"), (PIOTR, "signed off")],
    ids=["inactive", "contract_ended"],
)
def test_refused_crew_see_clear_message(sandbox: SandboxHandle, user: str, text: str) -> None:
    """Inactive and signed-off crew are refused on the login page with a reason."""
    _, challenge = pkce_pair()
    with requests.Session() as http:
        answer = pick_card(http, sandbox, authorize_params(challenge), user)
    assert answer.status_code == 403
    assert text in answer.text
    assert "data-testid=login-error" in answer.text


def test_future_contract_may_sign_in(sandbox: SandboxHandle) -> None:
    """Crew joining later still have their cloud identity."""
    tokens = _code_login(sandbox, ANA)["tokens"]
    assert isinstance(tokens, dict)
    assert _userinfo(sandbox, tokens["access_token"])["rank"] == "Cook"


def test_form_post_response_mode(sandbox: SandboxHandle) -> None:
    """response_mode=form_post answers with an auto-posting form to the redirect URI."""
    _, challenge = pkce_pair()
    params = authorize_params(challenge, response_mode="form_post")
    with requests.Session() as http:
        answer = pick_card(http, sandbox, params, INGRID)
    assert answer.status_code == 200
    assert form_action(answer.text) == DEMO_REDIRECT_URI
    fields = form_fields(answer.text)
    assert fields["state"] == params["state"] and fields["code"]


def test_pkce_is_required_and_checked(sandbox: SandboxHandle) -> None:
    """A wrong code_verifier gets invalid_grant; plain challenges are refused."""
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    with requests.Session() as http:
        answer = pick_card(http, sandbox, params, INGRID)
        code = query_of(answer.headers["Location"])["code"]
        bad = requests.post(
            sandbox.urls["token"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": DEMO_REDIRECT_URI,
                "code_verifier": "x" * 50,
            },
            auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
            timeout=10,
        )
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
        plain = http.get(
            sandbox.urls["authorize"],
            params=authorize_params("p" * 43, code_challenge_method="plain"),
            allow_redirects=False,
            timeout=10,
        )
    # Not a "safe" error: IdentityServer's error page, never back to the app.
    assert plain.status_code == 400 and "Location" not in plain.headers
    assert "data-reason=invalid_request" in plain.text


def test_unknown_redirect_uri_is_refused_without_redirect(sandbox: SandboxHandle) -> None:
    """An unregistered redirect_uri is a 400, never a redirect."""
    _, challenge = pkce_pair()
    answer = requests.get(
        sandbox.urls["authorize"],
        params=authorize_params(challenge, redirect_uri="http://evil.example/cb"),
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400


def test_refresh_token_is_reused_and_rechecks_the_user(sandbox: SandboxHandle) -> None:
    """refresh_token issues new tokens (the same refresh token: Duende's ReUse); after
    deactivation it is refused."""
    tokens = sandbox.code_tokens(INGRID)
    refreshed = requests.post(
        sandbox.urls["token"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        timeout=10,
    ).json()
    assert refreshed["refresh_token"] == tokens["refresh_token"]
    assert _verify(sandbox, refreshed["id_token"])["sub"] == "87234"
    assert _userinfo(sandbox, refreshed["access_token"])["rank"] == "Master"
    member = sandbox.state.store.find_user(INGRID)
    assert member is not None
    from dataclasses import replace

    sandbox.state.store.save_user(replace(member, active=False))
    refused = requests.post(
        sandbox.urls["token"],
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        timeout=10,
    )
    assert refused.status_code == 400 and "inactive" in refused.json()["error_description"]


def test_password_grant_refuses_inactive_crew(sandbox: SandboxHandle) -> None:
    """The legacy password grant applies the same sign-in rules."""
    answer = requests.post(
        sandbox.urls["token"],
        data={
            "grant_type": "password",
            "username": LENA,
            "password": DEMO_PASSWORD,
            "scope": "openid",
        },
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_last_24_hours(sandbox: SandboxHandle, method: str) -> None:
    """client_credentials answers as Dualog documents: 86400 s, Bearer, the scope."""
    data = {"grant_type": "client_credentials", "scope": "crew_import"}
    auth = None
    if method == "client_secret_basic":
        auth = (SCIM_CLIENT_ID, SCIM_CLIENT_SECRET)
    else:
        data.update(client_id=SCIM_CLIENT_ID, client_secret=SCIM_CLIENT_SECRET)
    body = requests.post(sandbox.urls["token"], data=data, auth=auth, timeout=10).json()
    assert body["expires_in"] == 86400
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "crew_import"


def test_wrong_client_secret_is_invalid_client(sandbox: SandboxHandle) -> None:
    """A bad client secret gets 401 invalid_client."""
    answer = requests.post(
        sandbox.urls["token"],
        data={"grant_type": "client_credentials", "scope": "crew_read"},
        auth=(SCIM_CLIENT_ID, "wrong"),
        timeout=10,
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_scope_outside_the_client_is_invalid_scope(sandbox: SandboxHandle) -> None:
    """The read-only client cannot ask for crew_import."""
    answer = requests.post(
        sandbox.urls["token"],
        data={"grant_type": "client_credentials", "scope": "crew_import"},
        auth=("rpkit-scim-readonly", "rpkit-scim-readonly-secret"),
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"


def test_userinfo(sandbox: SandboxHandle) -> None:
    """userinfo answers the scoped claims; a missing or bad token is a 401."""
    tokens = sandbox.password_tokens(INGRID)
    info = requests.get(
        sandbox.urls["userinfo"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    ).json()
    assert info["sub"] == "87234" and info["rank"] == "Master" and info["ship_imo"] == "9312456"
    assert requests.get(sandbox.urls["userinfo"], timeout=10).status_code == 401
    bad = requests.get(
        sandbox.urls["userinfo"], headers={"Authorization": "Bearer x.y.z"}, timeout=10
    )
    assert bad.status_code == 401 and "invalid_token" in bad.headers["WWW-Authenticate"]


def test_end_session_redirects_with_state(sandbox: SandboxHandle) -> None:
    """End session with id_token_hint goes to the registered post-logout URI and echoes state."""
    tokens = sandbox.code_tokens(INGRID)
    answer = requests.get(
        sandbox.urls["endsession"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:5000/",
            "state": "s-1",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "http://127.0.0.1:5000/?state=s-1"


def test_end_session_never_redirects_to_unregistered_uri(sandbox: SandboxHandle) -> None:
    """An unregistered post_logout_redirect_uri shows the signed-out page instead."""
    answer = requests.get(
        sandbox.urls["endsession"],
        params={"client_id": DEMO_CLIENT_ID, "post_logout_redirect_uri": "http://evil.example/"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 200 and "data-testid=signed-out" in answer.text


def test_login_page_lists_crew_cards(sandbox: SandboxHandle) -> None:
    """The login page shows a card per crew member with name, rank and ship."""
    _, challenge = pkce_pair()
    page = requests.get(sandbox.urls["authorize"], params=authorize_params(challenge), timeout=10)
    cards = re.findall(r'data-testid="crew-card-([^"]+)"', page.text)
    assert INGRID in cards and len(cards) == 8
    assert "Chief Engineer" in page.text and "MV Nordic Aurora" in page.text
    assert "<link" not in page.text and "<script src" not in page.text


def test_prompt_none_uses_the_sandbox_session(sandbox: SandboxHandle) -> None:
    """prompt=none answers a code while signed in, and login_required when not."""
    _, challenge = pkce_pair()
    with requests.Session() as http:
        anonymous = http.get(
            sandbox.urls["authorize"],
            params=authorize_params(challenge, prompt="none"),
            allow_redirects=False,
            timeout=10,
        )
        assert query_of(anonymous.headers["Location"])["error"] == "login_required"
        pick_card(http, sandbox, authorize_params(challenge), INGRID)
        silent = http.get(
            sandbox.urls["authorize"],
            params=authorize_params(challenge, prompt="none"),
            allow_redirects=False,
            timeout=10,
        )
    assert "code" in query_of(silent.headers["Location"])


def test_pytest_plugin_exposes_a_fixture() -> None:
    """`pytest_plugins = ["rpkit.testing"]` provides the rpkit_sandbox fixture."""
    import rpkit.testing

    assert hasattr(rpkit.testing, "rpkit_sandbox")
