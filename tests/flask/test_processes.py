"""Real processes: the README demo command, and two app processes sharing one Redis."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxHandle

from .conftest import session_cookies
from .helpers import (
    INGRID,
    JONAS,
    SP_CERT,
    SP_KEY,
    TOMAS,
    forms,
    free_port,
    oidc_callback_url,
    oidc_login,
    saml_acs_post,
    saml_login,
    sandbox_for,
)
from .processes import clean_env, example_app_process, redis_server

REDIS = Path("/usr/bin/redis-server")


def _to(url: str, base_url: str) -> str:
    """``url`` with the scheme and host of ``base_url`` (send it to the other process)."""
    parts, base = urlsplit(url), urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def test_demo_command_uses_embedded_sandbox(tmp_path: Path) -> None:
    """`python -m example_app` with no provider set runs the sandbox and both logins work."""
    base_url = f"http://127.0.0.1:{free_port()}"
    env = clean_env(RPKIT_BASE_URL=base_url, RPKIT_SANDBOX_PORT="0")
    with example_app_process(base_url, env, tmp_path), requests.Session() as http:
        home = http.get(base_url + "/").text
        assert "Sign in with Dualog (OIDC)" in home and "Sign in with Dualog (SAML)" in home
        assert oidc_login(http, base_url, INGRID).status_code == 303
        assert http.get(base_url + "/me").json()["protocol"] == "oidc"
        with requests.Session() as other:
            assert saml_login(other, base_url, JONAS).status_code == 303
            me = other.get(base_url + "/me").json()
            assert me["protocol"] == "saml" and me["rank"] == "AB"
    assert (tmp_path / ".rpkit-sandbox").is_dir()


@contextmanager
def _two_apps_on_redis(tmp_path: Path) -> Iterator[tuple[str, str, SandboxHandle, str]]:
    """Apps A and B (one SP behind a load balancer) sharing one Redis and one sandbox."""
    assert REDIS.exists(), "Debian redis-server is missing: run scripts/bootstrap"
    a, b = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    with redis_server() as redis_url, sandbox_for(tmp_path / "sandbox", [a, b]) as sandbox:
        common = {
            "RPKIT_REDIS_URL": redis_url,
            "RPKIT_SECRET_KEY": "shared-secret-for-both-processes",
            "RPKIT_OIDC_ISSUER": sandbox.issuer,
            "RPKIT_OIDC_CLIENT_ID": DEMO_CLIENT_ID,
            "RPKIT_OIDC_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "RPKIT_SAML_IDP_METADATA_URL": sandbox.urls["saml_metadata"],
            # One SP behind a load balancer: both processes share its identity (A's URLs).
            "RPKIT_SAML_SP_ENTITY_ID": f"{a}/auth/saml/metadata",
            "RPKIT_SAML_ACS_URL": f"{a}/auth/saml/acs",
            "RPKIT_SAML_LOGOUT_URL": f"{a}/auth/saml/slo",
            "RPKIT_SAML_SP_KEY_FILE": str(SP_KEY),
            "RPKIT_SAML_SP_CERT_FILE": str(SP_CERT),
        }
        with (
            example_app_process(a, clean_env(RPKIT_BASE_URL=a, **common), tmp_path),
            example_app_process(b, clean_env(RPKIT_BASE_URL=b, **common), tmp_path),
        ):
            yield a, b, sandbox, redis_url


def test_two_processes_share_redis(tmp_path: Path) -> None:
    """Login started on process A completes on process B (OIDC callback and SAML ACS)."""
    with _two_apps_on_redis(tmp_path) as (a, b, _sandbox, _redis_url):
        with requests.Session() as http:
            callback = oidc_callback_url(http, a, INGRID)
            assert callback.startswith(f"{a}/auth/oidc/callback?")
            done = http.get(_to(callback, b), allow_redirects=False)
            assert done.status_code == 303, done.text[:300]
            assert session_cookies(done)
            for base in (a, b):
                me = http.get(f"{base}/me").json()
                assert me["protocol"] == "oidc" and me["email"] == INGRID
            # The state is gone everywhere: a replay on A is refused.
            replay = http.get(callback, allow_redirects=False)
            assert replay.status_code == 400 and not session_cookies(replay)

        with requests.Session() as http:
            action, fields = saml_acs_post(http, a, JONAS)
            assert action == f"{a}/auth/saml/acs"
            done = http.post(_to(action, b), data=fields, allow_redirects=False)
            assert done.status_code == 303, done.text[:300]
            for base in (a, b):
                me = http.get(f"{base}/me").json()
                assert me["protocol"] == "saml" and me["rank"] == "AB"
            # The pending request is single-use across processes: a replay on A is refused.
            http.cookies.clear(domain="127.0.0.1", path="/", name="rpkit_session")
            replay = http.post(action, data=fields, allow_redirects=False)
            assert replay.status_code == 400 and not session_cookies(replay)


def _csrf(http: requests.Session, base_url: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', http.get(base_url + "/").text)
    assert match, "no logout form on the home page"
    return match.group(1)


def _saml_login_across(http: requests.Session, start: str, finish: str, user: str) -> None:
    """Start a SAML login on ``start`` and post the IdP's answer to ``finish``."""
    action, fields = saml_acs_post(http, start, user)
    done = http.post(_to(action, finish), data=fields, allow_redirects=False)
    assert done.status_code == 303, done.text[:300]


def test_same_user_logging_in_and_out_from_8_threads_then_slo_ends_exactly_them(
    tmp_path: Path,
) -> None:
    """8 threads log one crew account in and out on A and B; SLO without SessionIndex ends
    exactly that account's sessions, on both processes, and nobody else's."""
    import redis

    with _two_apps_on_redis(tmp_path) as (a, b, sandbox, redis_url):
        bystanders = []
        for user, login in ((INGRID, saml_login), (TOMAS, oidc_login)):
            browser = requests.Session()
            assert login(browser, a, user).status_code == 303
            bystanders.append((browser, user))
        kept: list[requests.Session] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def shared_account(n: int) -> None:
            try:
                for i in range(4):
                    http = requests.Session()
                    start, finish = (a, b) if (n + i) % 2 else (b, a)
                    _saml_login_across(http, start, finish, TOMAS)
                    me = http.get(start + "/me").json()
                    assert (me["protocol"], me["email"]) == ("saml", TOMAS), me
                    if i % 2:
                        http.post(
                            finish + "/auth/logout",
                            data={"csrf_token": _csrf(http, start)},
                            allow_redirects=False,
                        )
                        assert http.get(start + "/me").status_code == 401
                        http.close()
                    else:
                        with lock:
                            kept.append(http)
            except BaseException as err:  # reported by the main thread
                errors.append(err)

        threads = [threading.Thread(target=shared_account, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert len(kept) == 16
        for http in kept:
            assert http.get(b + "/me").json()["email"] == TOMAS

        # The IdP logs one of those browsers out of every session (no SessionIndex); the
        # request arrives cross-site (no app cookie) at process B.
        form = forms(kept[0].get(sandbox.issuer + "/saml/logout?all_sessions=1").text)[0]
        with requests.Session() as idp_side:
            answer = idp_side.post(
                _to(str(form["action"]), b), data=form["fields"], allow_redirects=False
            )
        assert answer.status_code in (200, 302), answer.text[:300]
        for http in kept:
            for base in (a, b):
                assert http.get(base + "/me").status_code == 401
        for browser, user in bystanders:
            for base in (a, b):
                assert browser.get(base + "/me").json()["email"] == user
        # Nothing of that account is left in Redis; the bystanders' sessions are.
        client = redis.Redis.from_url(redis_url)
        live = [client.get(k) for k in client.scan_iter("rpkit:flask:session:*")]
        assert len(live) == 2
        assert all(TOMAS.encode() not in v or b'"oidc"' in v for v in live if v)
