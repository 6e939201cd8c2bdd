"""Logout contract on every framework: OIDC front-channel logout, the local-only logout
page and the one-time signed-out notice (the Flask extension is the reference)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from rpkit.errors import CallbackError
from rpkit.identity import CrewIdentity
from tests.flask.helpers import INGRID, TOMAS, forms, oidc_login

from .conftest import Stack


def _web_state(stack: Stack) -> Any:
    """The app's rpkit state (settings, sessions), whichever framework serves it."""
    if stack.framework == "flask":
        from rpkit.flask import rpkit_state

        return rpkit_state(stack.app)
    if stack.framework == "fastapi":
        return stack.app.state.rpkit.state
    from rpkit.django.state import rpkit_state as django_state

    return django_state()


def _idp_sid(stack: Stack, before: set[str]) -> str:
    [key] = [k for k in stack.sandbox.state.sessions if k not in before]
    return str(stack.sandbox.state.sessions[key].sid)


def _frontchannel(stack: Stack, params: dict[str, str], **kwargs: Any) -> requests.Response:
    return requests.get(
        f"{stack.base_url}/auth/oidc/frontchannel-logout", params=params, timeout=10, **kwargs
    )


def test_frontchannel_logout_ends_the_sessions_of_that_sid(stack: Stack) -> None:
    """GET /auth/oidc/frontchannel-logout?iss=&sid= without cookies ends that sid's sessions
    (and only those); only the provider may frame the page, and it is never cached."""
    browsers = [requests.Session(), requests.Session()]
    sids = []
    for browser, user in zip(browsers, (INGRID, TOMAS), strict=True):
        before = set(stack.sandbox.state.sessions)
        assert oidc_login(browser, stack.base_url, user).status_code == 303
        sids.append(_idp_sid(stack, before))
    answer = _frontchannel(stack, {"iss": stack.sandbox.issuer, "sid": sids[0]})
    assert answer.status_code == 200, answer.text[:300]
    assert "Signed out." in answer.text
    assert answer.headers["Content-Security-Policy"] == (
        f"frame-ancestors {stack.sandbox.base_url}"
    )
    assert "X-Frame-Options" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers
    assert browsers[0].get(f"{stack.base_url}/me").status_code == 401
    assert browsers[1].get(f"{stack.base_url}/me").status_code == 200
    # Every other page still refuses to be framed.
    assert browsers[1].get(f"{stack.base_url}/profile").headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"iss": "https://crew.dualog.com/auth", "sid": "SID"}, "iss_mismatch"),
        ({"iss": "ISSUER/", "sid": "SID"}, "iss_mismatch"),
        ({"sid": "SID"}, "frontchannel_params"),
        ({"iss": "ISSUER"}, "frontchannel_params"),
        ({"iss": "ISSUER", "sid": ""}, "frontchannel_params"),
        ({"iss": "ISSUER", "sid": "x" * 300}, "frontchannel_params"),
    ],
    ids=["other-issuer", "issuer-trailing-slash", "no-iss", "no-sid", "empty-sid", "long-sid"],
)
def test_hostile_frontchannel_logout_is_refused(
    stack: Stack, http: requests.Session, params: dict[str, str], reason: str
) -> None:
    """A front-channel request from another issuer or without iss/sid ends nothing: 400
    with the reason, and the session named by the real sid lives on."""
    before = set(stack.sandbox.state.sessions)
    assert oidc_login(http, stack.base_url).status_code == 303
    sid = _idp_sid(stack, before)
    params = {
        k: v.replace("SID", sid).replace("ISSUER", stack.sandbox.issuer) for k, v in params.items()
    }
    answer = _frontchannel(stack, params, headers={"Accept": "application/json"})
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["error"] == f"{CallbackError.code}:{reason}"
    page = _frontchannel(stack, params)
    assert page.status_code == 400 and "Correlation id" in page.text
    assert http.get(f"{stack.base_url}/me").status_code == 200


def test_frontchannel_logout_of_an_unknown_sid_ends_nothing(
    stack: Stack, http: requests.Session
) -> None:
    """An unknown sid is answered 200 (nothing to do) and leaves other sessions alone."""
    assert oidc_login(http, stack.base_url).status_code == 303
    answer = _frontchannel(stack, {"iss": stack.sandbox.issuer, "sid": f"unknown-{time.time()}"})
    assert answer.status_code == 200
    assert http.get(f"{stack.base_url}/me").status_code == 200


def test_logout_without_an_id_token_is_local_and_says_so(stack: Stack) -> None:
    """A session that kept no ID token ends here only (Dualog would strand the user without
    an id_token_hint), and the page says Dualog's sign-in may still be active."""
    state = _web_state(stack)
    identity = CrewIdentity(protocol="oidc", issuer=stack.sandbox.issuer, subject="87234")
    cookie, record = state.sessions.create(identity, protocol_data={})
    with requests.Session() as http:
        http.cookies.set(state.session_cookie, cookie)
        answer = http.post(
            f"{stack.base_url}/auth/logout",
            data={"csrf_token": record.csrf_token},
            headers={"Accept": "application/json"},  # still the page: people read it
            allow_redirects=False,
        )
        assert answer.status_code == 200, answer.text[:300]
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "Signed out of this app" in answer.text and "kept no ID token" in answer.text
        assert state.sessions.load(cookie) is None
        assert http.get(f"{stack.base_url}/me").status_code == 401


def test_signed_out_notice_shows_once(stack: Stack, http: requests.Session) -> None:
    """After logout (through the IdP's round trip) the start page says so, once."""
    oidc_login(http, stack.base_url, INGRID)
    page = http.get(f"{stack.base_url}/profile")
    (logout,) = [f for f in forms(page.text) if str(f["action"]).endswith("/auth/logout")]
    landed = http.post(f"{stack.base_url}/auth/logout", data=logout["fields"])  # follows
    assert landed.url.rstrip("/") == stack.base_url  # back from the sandbox's end session
    assert 'data-testid="signed-out"' in landed.text
    again = http.get(f"{stack.base_url}/")
    assert 'data-testid="signed-out"' not in again.text


def test_signed_out_notice_is_not_shown_to_a_signed_in_browser(
    stack: Stack, http: requests.Session
) -> None:
    """A notice cookie (planted or stale) never shows on a signed-in page."""
    oidc_login(http, stack.base_url, INGRID)
    http.cookies.set("rpkit_signed_out", "1")
    assert 'data-testid="signed-out"' not in http.get(f"{stack.base_url}/").text
