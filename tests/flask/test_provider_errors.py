"""Who is at fault, over real HTTP: the browser's request (400) or the app's configuration (502).

The sample app runs on loopback against a scriptable OpenID provider (tests/oidc/fake_op.py)
that signs real tokens; each test makes the provider answer one way.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from example_app import create_app
from tests.oidc.fake_op import CLIENT_ID, CLIENT_SECRET, FakeOP, sign_jwt

from .conftest import session_cookies
from .helpers import AppServer


@pytest.fixture
def op() -> Iterator[FakeOP]:
    server = FakeOP().start()
    yield server
    server.stop()


@pytest.fixture
def app_for(op: FakeOP) -> Iterator[Callable[..., str]]:
    """Start the sample app against ``op``; return its base URL."""
    servers: list[AppServer] = []

    def start(**config: str) -> str:
        server = AppServer()
        values = {
            "RPKIT_BASE_URL": server.base_url,
            "RPKIT_SANDBOX": "off",
            "RPKIT_OIDC_ISSUER": op.issuer,
            "RPKIT_OIDC_CLIENT_ID": CLIENT_ID,
            "RPKIT_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            **config,
        }
        server.start(create_app(values))
        servers.append(server)
        return server.base_url

    yield start
    for server in servers:
        server.stop()


def _callback(http: requests.Session, base_url: str) -> str:
    """Start a login and follow the provider's redirect; return the callback URL."""
    start = http.get(f"{base_url}/auth/login/oidc", allow_redirects=False)
    assert start.status_code == 302, start.text[:300]
    back = http.get(start.headers["Location"], allow_redirects=False)
    assert back.status_code == 302, back.text[:300]
    return str(back.headers["Location"])


def _finish(http: requests.Session, url: str, *, api: bool = False) -> requests.Response:
    headers = {"Accept": "application/json"} if api else {}
    return http.get(url, allow_redirects=False, headers=headers)


def _no_session(answer: requests.Response, http: requests.Session, base_url: str) -> None:
    assert not session_cookies(answer)
    assert "Traceback" not in answer.text
    assert http.get(f"{base_url}/me").status_code == 401


def test_a_login_works_against_the_provider(op: FakeOP, app_for: Callable[..., str]) -> None:
    """The baseline: the same setup signs the user in."""
    base = app_for()
    with requests.Session() as http:
        assert _finish(http, _callback(http, base)).status_code == 303
        assert http.get(f"{base}/me").json()["rank"] == "Chief Officer"


def test_invalid_grant_is_400_start_again(
    op: FakeOP, app_for: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    """A code the provider refuses (replayed, injected, expired) is the request's fault: 400."""
    op.token_response = lambda form: (400, {"error": "invalid_grant"})
    base = app_for()
    with requests.Session() as http, caplog.at_level(logging.WARNING, "rpkit.flask"):
        answer = _finish(http, _callback(http, base))
        assert answer.status_code == 400, answer.text[:300]
        assert "start the sign-in again" in answer.text
        assert "try again later" not in answer.text.lower()
        _no_session(answer, http, base)
        api = _finish(http, _callback(http, base), api=True)
        assert api.status_code == 400 and api.json()["error"] == "invalid_grant"
    assert "invalid_grant" in caplog.text


def test_pkce_mismatch_is_400_start_again(op: FakeOP, app_for: Callable[..., str]) -> None:
    """The provider really compares the verifier with a challenge that no longer matches."""
    base = app_for()
    with requests.Session() as http:
        url = _callback(http, base)
        code = parse_qs(urlsplit(url).query)["code"][0]
        op.grants[code].code_challenge = "a-challenge-of-another-login"
        answer = _finish(http, url)
        assert op.token_responses[-1] == (
            400,
            {"error": "invalid_grant", "error_description": "PKCE mismatch"},
        )
        assert answer.status_code == 400 and "start the sign-in again" in answer.text
        _no_session(answer, http, base)


def test_wrong_client_secret_is_502_misconfigured(
    op: FakeOP, app_for: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    """invalid_client: the page says the app is misconfigured; the log names the setting."""
    base = app_for(RPKIT_OIDC_CLIENT_SECRET="a-secret-that-is-no-longer-valid")
    with requests.Session() as http, caplog.at_level(logging.WARNING, "rpkit.flask"):
        answer = _finish(http, _callback(http, base))
        assert op.token_responses[-1][1] == {"error": "invalid_client"}
        assert answer.status_code == 502, answer.text[:300]
        assert "misconfigured" in answer.text and "rpkit doctor" in answer.text
        assert "try again" not in answer.text.lower()
        _no_session(answer, http, base)
        api = _finish(http, _callback(http, base), api=True)
        assert api.status_code == 502 and api.json()["error"] == "client_rejected"
    assert "RPKIT_OIDC_CLIENT_SECRET" in caplog.text
    assert "a-secret-that-is-no-longer-valid" not in caplog.text


@pytest.mark.parametrize(
    ("body", "setting"),
    [
        ({"error": "unauthorized_client"}, "RPKIT_OIDC_CLIENT_ID"),
        ({"error": "invalid_scope"}, "RPKIT_OIDC_SCOPES"),
        (
            {"error": "invalid_request", "error_description": "Invalid redirect_uri"},
            "RPKIT_BASE_URL",
        ),
        ("", "RPKIT_OIDC_CLIENT_SECRET"),
    ],
    ids=["unauthorized_client", "invalid_scope", "unregistered_redirect_uri", "bare_401"],
)
def test_configuration_errors_at_the_token_endpoint_are_502(
    op: FakeOP,
    app_for: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
    body: Any,
    setting: str,
) -> None:
    """Each error that blames the app's registration gets the misconfigured page."""
    op.token_response = lambda form: (401 if body == "" else 400, body)
    base = app_for()
    with requests.Session() as http, caplog.at_level(logging.WARNING, "rpkit.flask"):
        answer = _finish(http, _callback(http, base))
        assert answer.status_code == 502, answer.text[:300]
        assert "misconfigured" in answer.text
        _no_session(answer, http, base)
    assert setting in caplog.text


@pytest.mark.parametrize(
    ("error", "status", "text"),
    [
        ("unauthorized_client", 502, "misconfigured"),
        ("invalid_scope", 502, "misconfigured"),
        ("access_denied", 400, "did not sign you in"),
    ],
)
def test_errors_in_the_callback_are_classed_too(
    op: FakeOP, app_for: Callable[..., str], error: str, status: int, text: str
) -> None:
    """error= in the redirect back: the user's refusal is 400, the app's registration 502."""
    op.authorize_error = error
    base = app_for()
    with requests.Session() as http:
        answer = _finish(http, _callback(http, base))
        assert answer.status_code == status, answer.text[:300]
        assert text in answer.text
        _no_session(answer, http, base)


def test_non_ascii_access_token_with_at_hash_is_a_malformed_response(
    op: FakeOP, app_for: Callable[..., str]
) -> None:
    """A token response whose access token is not ASCII is refused as malformed, never a 500."""
    access_token = "tøken-Ærø-" + "x" * 20

    def answer(form: dict[str, str]) -> tuple[int, Any]:
        grant = op.grants.pop(form["code"])
        digest = hashlib.sha256(access_token.encode("utf-8")).digest()
        now = int(time.time())
        claims = {
            "iss": op.issuer,
            "sub": grant.sub,
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "nonce": grant.nonce,
            "rank": "Master",
            "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
        }
        id_token = sign_jwt(claims, op.keys[0])
        return 200, {"access_token": access_token, "token_type": "Bearer", "id_token": id_token}

    op.token_response = answer
    base = app_for()
    with requests.Session() as http:
        page = _finish(http, _callback(http, base))
        assert page.status_code == 502, page.text[:300]
        assert "answered unexpectedly" in page.text
        _no_session(page, http, base)


def test_a_1024_bit_key_in_the_jwks_refuses_the_login_with_its_reason(
    app_for: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    """The provider signs with the RSA-1024 key it publishes: 400, reason weak_key."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns about the weak key it is asked for
        weak = RSAKey.generate_key(1024, parameters={"kid": "legacy-1024"}, auto_kid=False)
    weak_op = FakeOP(keys=[weak]).start()
    try:
        server = AppServer()
        server.start(
            create_app(
                {
                    "RPKIT_BASE_URL": server.base_url,
                    "RPKIT_SANDBOX": "off",
                    "RPKIT_OIDC_ISSUER": weak_op.issuer,
                    "RPKIT_OIDC_CLIENT_ID": CLIENT_ID,
                    "RPKIT_OIDC_CLIENT_SECRET": CLIENT_SECRET,
                }
            )
        )
        try:
            with requests.Session() as http, caplog.at_level(logging.WARNING):
                answer = _finish(http, _callback(http, server.base_url), api=True)
                assert answer.status_code == 400, answer.text[:300]
                assert answer.json()["error"] == "id_token_error:weak_key"
                _no_session(answer, http, server.base_url)
            assert "legacy-1024" in caplog.text
        finally:
            server.stop()
    finally:
        weak_op.stop()
