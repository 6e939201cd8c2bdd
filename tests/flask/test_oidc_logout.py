"""OIDC logout as IdentityServer does it: RP-initiated with the latest ID token as hint (no
back-channel needed), local-only when there is none, and front-channel by ``iss`` + ``sid``."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from rpkit.errors import CallbackError
from rpkit.flask import rpkit_state
from rpkit.identity import CrewIdentity

from .conftest import Stack
from .helpers import INGRID, TOMAS, oidc_login


def _csrf(http: requests.Session, base_url: str) -> str:
    me = http.get(f"{base_url}/me")
    assert me.status_code == 200, me.text
    token = me.json().get("csrf_token")
    if token:
        return str(token)
    profile = http.get(f"{base_url}/profile")
    marker = 'name="csrf_token" value="'
    return profile.text.split(marker, 1)[1].split('"', 1)[0]


def _idp_session_of(stack: Stack, before: set[str]) -> tuple[str, str]:
    [key] = [k for k in stack.sandbox.state.sessions if k not in before]
    return key, stack.sandbox.state.sessions[key].sid


def test_rp_initiated_logout_ends_the_dualog_session_without_back_channel(
    stack: Stack, http: requests.Session
) -> None:
    """POST /auth/logout sends the ID token as id_token_hint; Dualog ends its session and
    sends the browser back, even after the 300 s ID token has expired."""
    before = set(stack.sandbox.state.sessions)
    assert oidc_login(http, stack.base_url).status_code == 303
    key, _ = _idp_session_of(stack, before)
    stack.sandbox.shift_clock(3600)  # the stored ID token is long expired
    try:
        answer = http.post(
            f"{stack.base_url}/auth/logout",
            data={"csrf_token": _csrf(http, stack.base_url)},
            allow_redirects=False,
        )
        assert answer.status_code == 303
        end_session = answer.headers["Location"]
        query = parse_qs(urlsplit(end_session).query)
        assert query["id_token_hint"][0].count(".") == 2
        back = http.get(end_session, allow_redirects=False)
    finally:
        stack.sandbox.shift_clock(-3600)
    assert back.status_code == 302, back.text[:300]
    assert back.headers["Location"].startswith(stack.base_url + "/")
    assert key not in stack.sandbox.state.sessions
    assert http.get(f"{stack.base_url}/me").status_code == 401


def test_logout_without_an_id_token_is_local_and_says_so(stack: Stack) -> None:
    """A session without an ID token ends here only, and the page says Dualog may not be."""
    state = rpkit_state(stack.app)
    identity = CrewIdentity(protocol="oidc", issuer=stack.sandbox.issuer, subject="87234")
    cookie, record = state.sessions.create(identity, protocol_data={})
    client = stack.app.test_client()
    client.set_cookie(state.session_cookie, cookie)
    answer = client.post("/auth/logout", data={"csrf_token": record.csrf_token})
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "Signed out of this app" in text and "kept no ID token" in text
    assert state.sessions.load(cookie) is None


def test_frontchannel_logout_ends_the_sessions_of_that_sid(stack: Stack) -> None:
    """GET /auth/oidc/frontchannel-logout?iss=&sid= without cookies ends that sid's sessions
    (and only those); the page may be framed by the provider only."""
    browsers = [requests.Session(), requests.Session()]
    sids = []
    for browser, user in zip(browsers, (INGRID, TOMAS), strict=True):
        before = set(stack.sandbox.state.sessions)
        assert oidc_login(browser, stack.base_url, user).status_code == 303
        sids.append(_idp_session_of(stack, before)[1])
    answer = requests.get(
        f"{stack.base_url}/auth/oidc/frontchannel-logout",
        params={"iss": stack.sandbox.issuer, "sid": sids[0]},
        timeout=10,
    )
    assert answer.status_code == 200
    origin = stack.sandbox.base_url
    assert answer.headers["Content-Security-Policy"] == f"frame-ancestors {origin}"
    assert "X-Frame-Options" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"
    assert browsers[0].get(f"{stack.base_url}/me").status_code == 401
    assert browsers[1].get(f"{stack.base_url}/me").status_code == 200


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"iss": "https://crew.dualog.com/auth", "sid": "SID"}, "iss_mismatch"),
        ({"sid": "SID"}, "frontchannel_params"),
        ({"iss": "ISSUER"}, "frontchannel_params"),
        ({"iss": "ISSUER", "sid": "x" * 300}, "frontchannel_params"),
    ],
    ids=["other-issuer", "no-iss", "no-sid", "oversized-sid"],
)
def test_hostile_frontchannel_logout_is_refused(
    stack: Stack, http: requests.Session, params: dict[str, str], reason: str
) -> None:
    """A front-channel request from another issuer or without iss/sid ends nothing (400)."""
    before = set(stack.sandbox.state.sessions)
    assert oidc_login(http, stack.base_url).status_code == 303
    sid = _idp_session_of(stack, before)[1]
    params = {
        k: v.replace("SID", sid).replace("ISSUER", stack.sandbox.issuer) for k, v in params.items()
    }
    client = rpkit_state(stack.app).require_oidc()
    with pytest.raises(CallbackError) as exc:
        client.validate_frontchannel_logout(params)
    assert exc.value.reason == reason
    answer = requests.get(
        f"{stack.base_url}/auth/oidc/frontchannel-logout", params=params, timeout=10
    )
    assert answer.status_code == 400
    assert http.get(f"{stack.base_url}/me").status_code == 200


def test_frontchannel_logout_of_an_unknown_sid_ends_nothing(
    stack: Stack, http: requests.Session
) -> None:
    """An unknown sid is answered 200 (nothing to do) and leaves other sessions alone."""
    assert oidc_login(http, stack.base_url).status_code == 303
    answer = requests.get(
        f"{stack.base_url}/auth/oidc/frontchannel-logout",
        params={"iss": stack.sandbox.issuer, "sid": f"unknown-{time.time()}"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert http.get(f"{stack.base_url}/me").status_code == 200
