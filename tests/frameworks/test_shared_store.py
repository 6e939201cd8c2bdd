"""The three sample apps as real processes on one Redis: a login started on one framework
finishes on another (one key layout for pending logins and sessions), and back-channel
logout answers 503 while the store is down, on every framework."""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path

import pytest
import requests
from joserfc import jwt

from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxHandle
from tests.flask.conftest import session_cookies
from tests.flask.helpers import (
    INGRID,
    JONAS,
    SP_CERT,
    SP_KEY,
    free_port,
    oidc_callback_url,
    saml_acs_post,
    sandbox_for,
)
from tests.flask.processes import clean_env, redis_process

from .test_processes import _app_process, _to

MODULES = {"flask": "example_app", "fastapi": "example_app.fastapi", "django": "example_app.django"}


def _env(sandbox: SandboxHandle, redis_url: str, base_url: str, sp: str) -> dict[str, str]:
    return clean_env(
        RPKIT_BASE_URL=base_url,
        RPKIT_REDIS_URL=redis_url,
        RPKIT_OIDC_ISSUER=sandbox.issuer,
        RPKIT_OIDC_CLIENT_ID=DEMO_CLIENT_ID,
        RPKIT_OIDC_CLIENT_SECRET=DEMO_CLIENT_SECRET,
        RPKIT_SAML_IDP_METADATA_URL=sandbox.urls["saml_metadata"],
        RPKIT_SAML_SP_ENTITY_ID=f"{sp}/auth/saml/metadata",
        RPKIT_SAML_ACS_URL=f"{sp}/auth/saml/acs",
        RPKIT_SAML_LOGOUT_URL=f"{sp}/auth/saml/slo",
        RPKIT_SAML_SP_KEY_FILE=str(SP_KEY),
        RPKIT_SAML_SP_CERT_FILE=str(SP_CERT),
    )


def test_login_started_on_one_framework_finishes_on_another(tmp_path: Path) -> None:
    """Flask, FastAPI and Django processes behind one address share Redis: an OIDC callback
    or SAML ACS started on one finishes on the next, and the session is seen by all."""
    bases = {name: f"http://127.0.0.1:{free_port()}" for name in MODULES}
    sp = bases["flask"]
    with (
        redis_process() as redis,
        sandbox_for(tmp_path / "sandbox", list(bases.values())) as sandbox,
    ):
        with contextlib.ExitStack() as apps:
            for name, base in bases.items():
                env = _env(sandbox, redis.url, base, sp)
                apps.enter_context(_app_process(MODULES[name], base, env, tmp_path))
            names = list(MODULES)
            for start, finish in zip(names, names[1:] + names[:1], strict=True):
                a, b = bases[start], bases[finish]
                with requests.Session() as http:
                    callback = oidc_callback_url(http, a, INGRID)
                    done = http.get(_to(callback, b), allow_redirects=False)
                    assert done.status_code == 303, (start, finish, done.text[:300])
                    for base in bases.values():
                        assert http.get(f"{base}/me").json()["email"] == INGRID
                    replay = http.get(callback, allow_redirects=False)
                    assert replay.status_code == 400 and not session_cookies(replay)
                with requests.Session() as http:
                    action, fields = saml_acs_post(http, a, JONAS)
                    done = http.post(_to(action, b), data=fields, allow_redirects=False)
                    assert done.status_code == 303, (start, finish, done.text[:300])
                    assert http.get(f"{a}/me").json()["rank"] == "AB"


def _logout_token(sandbox: SandboxHandle) -> str:
    key = sandbox.state.keys.signing_key
    now = int(time.time())
    payload = {
        "iss": sandbox.issuer,
        "aud": DEMO_CLIENT_ID,
        "sub": "87234",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    return str(jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}, payload, key))


@pytest.mark.parametrize("framework", list(MODULES))
def test_backchannel_logout_is_503_while_the_store_is_down(tmp_path: Path, framework: str) -> None:
    """A valid logout token that cannot be recorded (Redis down) is 503, so Dualog retries;
    never 400 (which says "your token is bad") or 500. Once Redis is back, 200."""
    base = f"http://127.0.0.1:{free_port()}"
    with redis_process() as redis, sandbox_for(tmp_path / "sandbox", [base]) as sandbox:
        env = _env(sandbox, redis.url, base, base)
        with _app_process(MODULES[framework], base, env, tmp_path):
            url = f"{base}/auth/oidc/backchannel-logout"
            warm = requests.post(url, data={"logout_token": _logout_token(sandbox)}, timeout=30)
            assert warm.status_code == 200, warm.text[:300]  # keys fetched, store reachable
            redis.stop()
            try:
                down = requests.post(url, data={"logout_token": _logout_token(sandbox)}, timeout=30)
                assert down.status_code == 503, down.text[:300]
                assert down.json()["error"] == "invalid_request"
                assert down.headers["Cache-Control"] == "no-store"
            finally:
                redis.start()
            back = requests.post(url, data={"logout_token": _logout_token(sandbox)}, timeout=30)
            assert back.status_code == 200, back.text[:300]
