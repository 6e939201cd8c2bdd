"""``python -m example_app.fastapi`` and ``python -m example_app.django`` as real processes:
the demo command with its embedded sandbox, and two processes (one SP behind a load
balancer) sharing one Redis (the Flask app's are in tests/flask)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tests.flask.conftest import session_cookies
from tests.flask.helpers import (
    INGRID,
    JONAS,
    SP_CERT,
    SP_KEY,
    free_port,
    oidc_callback_url,
    oidc_login,
    saml_acs_post,
    saml_login,
    sandbox_for,
)
from tests.flask.processes import clean_env, redis_server, wait_until

MODULES = pytest.mark.parametrize(
    "module", ["example_app.fastapi", "example_app.django"], ids=["fastapi", "django"]
)


@contextmanager
def _app_process(module: str, base_url: str, env: dict[str, str], cwd: Path) -> Iterator[None]:
    """Run ``python -m <module>`` until it answers ``/me``; stop it afterwards."""
    log = open(cwd / f"app-{base_url.rsplit(':', 1)[1]}.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", module], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
    )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{module} exited: {(cwd / log.name).read_text()[-2000:]}")
            return requests.get(f"{base_url}/me", timeout=2).status_code == 401

        wait_until(ready, what=f"{module} at {base_url}")
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


@MODULES
def test_demo_command_uses_embedded_sandbox(tmp_path: Path, module: str) -> None:
    """No provider set: the sample app runs the sandbox and both logins work."""
    base_url = f"http://127.0.0.1:{free_port()}"
    env = clean_env(RPKIT_BASE_URL=base_url, RPKIT_SANDBOX_PORT="0")
    with _app_process(module, base_url, env, tmp_path), requests.Session() as http:
        home = http.get(base_url + "/").text
        assert "Sign in with Dualog (OIDC)" in home and "Sign in with Dualog (SAML)" in home
        assert "Demo mode" in home
        assert oidc_login(http, base_url, INGRID).status_code == 303
        assert http.get(base_url + "/me").json()["protocol"] == "oidc"
        with requests.Session() as other:
            assert saml_login(other, base_url, JONAS).status_code == 303
            me = other.get(base_url + "/me").json()
            assert me["protocol"] == "saml" and me["rank"] == "AB"
    assert (tmp_path / ".rpkit-sandbox").is_dir()
    printed = next(tmp_path.glob("app-*.log")).read_text()
    assert f"rpkit sample app: open {base_url}/" in printed


def _to(url: str, base_url: str) -> str:
    parts, base = urlsplit(url), urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


@MODULES
def test_two_processes_share_redis(tmp_path: Path, module: str) -> None:
    """A login started on process A completes on process B (OIDC callback and SAML ACS)."""
    a, b = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    with redis_server() as redis_url, sandbox_for(tmp_path / "sandbox", [a, b]) as sandbox:
        common = {
            "RPKIT_REDIS_URL": redis_url,
            "RPKIT_OIDC_ISSUER": sandbox.issuer,
            "RPKIT_OIDC_CLIENT_ID": DEMO_CLIENT_ID,
            "RPKIT_OIDC_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "RPKIT_SAML_IDP_METADATA_URL": sandbox.urls["saml_metadata"],
            "RPKIT_SAML_SP_ENTITY_ID": f"{a}/auth/saml/metadata",
            "RPKIT_SAML_ACS_URL": f"{a}/auth/saml/acs",
            "RPKIT_SAML_LOGOUT_URL": f"{a}/auth/saml/slo",
            "RPKIT_SAML_SP_KEY_FILE": str(SP_KEY),
            "RPKIT_SAML_SP_CERT_FILE": str(SP_CERT),
        }
        with (
            _app_process(module, a, clean_env(RPKIT_BASE_URL=a, **common), tmp_path),
            _app_process(module, b, clean_env(RPKIT_BASE_URL=b, **common), tmp_path),
        ):
            with requests.Session() as http:
                callback = oidc_callback_url(http, a, INGRID)
                done = http.get(_to(callback, b), allow_redirects=False)
                assert done.status_code == 303, done.text[:300]
                for base in (a, b):
                    assert http.get(f"{base}/me").json()["email"] == INGRID
                replay = http.get(callback, allow_redirects=False)
                assert replay.status_code == 400 and not session_cookies(replay)
            with requests.Session() as http:
                action, fields = saml_acs_post(http, a, JONAS)
                done = http.post(_to(action, b), data=fields, allow_redirects=False)
                assert done.status_code == 303, done.text[:300]
                for base in (a, b):
                    assert http.get(f"{base}/me").json()["rank"] == "AB"
                http.cookies.clear(domain="127.0.0.1", path="/", name="rpkit_session")
                replay = http.post(action, data=fields, allow_redirects=False)
                assert replay.status_code == 400 and not session_cookies(replay)
