"""Redis stops under a signed-in app: every route that needs the store answers 503 with
the friendly page (never 500), and the same requests work again once Redis is back."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from joserfc import jwt

from example_app import create_app
from rpkit.testing import DEMO_CLIENT_ID, SandboxHandle

from .helpers import (
    INGRID,
    JONAS,
    TOMAS,
    AppServer,
    app_config,
    oidc_callback_url,
    oidc_login,
    saml_acs_post,
    saml_login,
    sandbox_for,
)
from .load import FRIENDLY_503
from .processes import RedisProcess, redis_process


@dataclass
class RedisApp:
    base_url: str
    redis: RedisProcess
    sandbox: SandboxHandle


@pytest.fixture
def redis_app(tmp_path: Path) -> Iterator[RedisApp]:
    server = AppServer()
    with redis_process(persist=True) as redis, sandbox_for(tmp_path, [server.base_url]) as sb:
        config = app_config(server.base_url, sb)
        config["RPKIT_REDIS_URL"] = redis.url
        server.start(create_app(config))
        try:
            yield RedisApp(server.base_url, redis, sb)
        finally:
            server.stop()


def _csrf(http: requests.Session, base_url: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{base_url}/profile").text)
    assert match
    return match.group(1)


def _logout_token(sandbox: SandboxHandle, **claims: object) -> str:
    key = sandbox.state.keys.signing_key
    now = int(time.time())
    payload = {
        "iss": sandbox.issuer,
        "aud": DEMO_CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        **claims,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}, payload, key)


def _assert_friendly_503(answer: requests.Response) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text[:300])
    assert answer.headers["Content-Type"].startswith("text/html")
    assert FRIENDLY_503.search(answer.text), answer.text[:500]
    assert "Traceback" not in answer.text and "redis" not in answer.text.lower()


def test_redis_outage_is_503_everywhere_and_service_resumes(redis_app: RedisApp) -> None:
    """Login start, callback, ACS, /me, pages and logout answer 503 while Redis is down."""
    base = redis_app.base_url
    with (
        requests.Session() as oidc_user,
        requests.Session() as saml_user,
        requests.Session() as oidc_pending,
        requests.Session() as saml_pending,
        requests.Session() as newcomer,
    ):
        assert oidc_login(oidc_user, base, INGRID).status_code == 303
        assert saml_login(saml_user, base, JONAS).status_code == 303
        csrf = _csrf(oidc_user, base)
        # Two logins half-way: signed in at the IdP, the answer not yet delivered.
        callback = oidc_callback_url(oidc_pending, base, TOMAS)
        acs, fields = saml_acs_post(saml_pending, base, TOMAS)

        redis_app.redis.stop()
        _assert_friendly_503(oidc_user.get(f"{base}/me"))
        _assert_friendly_503(saml_user.get(f"{base}/profile"))
        _assert_friendly_503(oidc_user.get(f"{base}/"))
        _assert_friendly_503(
            oidc_user.post(f"{base}/auth/logout", data={"csrf_token": csrf}, allow_redirects=False)
        )
        _assert_friendly_503(newcomer.get(f"{base}/auth/login/oidc", allow_redirects=False))
        _assert_friendly_503(newcomer.get(f"{base}/auth/login/saml", allow_redirects=False))
        _assert_friendly_503(oidc_pending.get(callback, allow_redirects=False))
        _assert_friendly_503(saml_pending.post(acs, data=fields, allow_redirects=False))
        # API clients get the same answer as JSON.
        api = oidc_user.get(f"{base}/me", headers={"Accept": "application/json"})
        assert api.status_code == 503 and api.json()["error"] == "store_unavailable"
        # A back-channel logout that cannot be recorded is 503, so the provider retries it.
        backchannel = requests.post(
            f"{base}/auth/oidc/backchannel-logout",
            data={"logout_token": _logout_token(redis_app.sandbox, sub="anyone")},
            timeout=30,
        )
        assert backchannel.status_code == 503
        # A signed-out visitor's home page needs no store and still works.
        assert newcomer.get(f"{base}/").status_code == 200

        redis_app.redis.start()  # same port, data kept (append-only file)
        assert oidc_user.get(f"{base}/me").json()["email"] == INGRID
        assert saml_user.get(f"{base}/me").json()["rank"] == "AB"
        # Nothing was consumed during the outage: the delayed answers complete now.
        assert oidc_pending.get(callback, allow_redirects=False).status_code == 303
        assert oidc_pending.get(f"{base}/me").json()["email"] == TOMAS
        assert saml_pending.post(acs, data=fields, allow_redirects=False).status_code == 303
        assert saml_pending.get(f"{base}/me").json()["email"] == TOMAS
        logout = oidc_user.post(
            f"{base}/auth/logout", data={"csrf_token": csrf}, allow_redirects=False
        )
        assert logout.status_code == 303
        assert oidc_user.get(f"{base}/me").status_code == 401
        assert oidc_login(newcomer, base, INGRID).status_code == 303
