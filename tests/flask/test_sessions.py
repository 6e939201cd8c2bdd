"""Server-side sessions: cookie flags, rotation, /me, 401 JSON for APIs, CSRF on logout."""

from __future__ import annotations

import re

import pytest
import requests

from .conftest import Stack, session_cookies
from .helpers import INGRID, JONAS, TOMAS, oidc_login, saml_login


def _csrf(http: requests.Session, base_url: str) -> str:
    page = http.get(f"{base_url}/profile")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:300]
    return match.group(1)


def test_me_signed_out_is_401_json(stack: Stack, http: requests.Session) -> None:
    """/me answers 401 JSON without a session."""
    answer = http.get(f"{stack.base_url}/me")
    assert answer.status_code == 401
    assert answer.json() == {"authenticated": False}


@pytest.mark.parametrize("login", [oidc_login, saml_login], ids=["oidc", "saml"])
def test_login_sets_session_and_me(stack: Stack, http: requests.Session, login: object) -> None:
    """After either login /me reports the protocol, issuer, subject, rank; cookie is opaque."""
    answer = login(http, stack.base_url)  # type: ignore[operator]
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/profile"
    [cookie] = session_cookies(answer)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # loopback http only
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 40 and "." not in value  # a random id, not signed data
    me = http.get(f"{stack.base_url}/me").json()
    assert me["authenticated"] is True
    assert me["protocol"] == ("oidc" if login is oidc_login else "saml")
    assert me["issuer"] == stack.sandbox.issuer
    assert me["rank"] == "Master" and me["email"] == INGRID and me["name"] == "Ingrid Larsen"
    assert me["subject"]


def test_session_id_rotates_at_login(stack: Stack, http: requests.Session) -> None:
    """A second login issues a new id and ends the old session."""
    oidc_login(http, stack.base_url)
    old = http.cookies.get("rpkit_session")
    oidc_login(http, stack.base_url, TOMAS)
    new = http.cookies.get("rpkit_session")
    assert old and new and old != new
    with requests.Session() as thief:
        thief.cookies.set("rpkit_session", old)
        assert thief.get(f"{stack.base_url}/me").status_code == 401
    assert http.get(f"{stack.base_url}/me").json()["rank"] == "Chief Officer"


def test_https_cookie_is_secure_host_prefixed(stack: Stack) -> None:
    """Behind https the session cookie is __Host-, Secure, HttpOnly, SameSite=Lax."""
    client = stack.https_app.test_client()
    start = client.get("/auth/login/oidc?next=/profile")
    assert start.status_code == 302
    binding = start.headers.getlist("Set-Cookie")[0]
    assert "Secure" in binding and "HttpOnly" in binding and "SameSite=Lax" in binding
    with requests.Session() as idp:
        from .helpers import sandbox_pick

        page = idp.get(start.headers["Location"])
        callback = sandbox_pick(idp, page, INGRID).headers["Location"]
    done = client.get(callback.removeprefix("https://app.example.com"))
    assert done.status_code == 303
    [cookie] = session_cookies(done)
    assert cookie.startswith("__Host-rpkit_session=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie


def test_api_request_gets_401_json(stack: Stack, http: requests.Session) -> None:
    """Protected pages redirect browsers to sign in but answer APIs with 401 JSON."""
    browser = http.get(f"{stack.base_url}/profile", allow_redirects=False)
    assert browser.status_code == 302
    assert browser.headers["Location"] == "/auth/login?next=/profile"
    for headers in ({"Accept": "application/json"}, {"X-Requested-With": "XMLHttpRequest"}):
        api = http.get(f"{stack.base_url}/profile", headers=headers, allow_redirects=False)
        assert api.status_code == 401
        body = api.json()
        assert body["error"] == "login_required" and body["correlation_id"]


def test_rank_gate(stack: Stack) -> None:
    """The bridge admits deck officers (C/O) and refuses an AB with a friendly 403."""
    with requests.Session() as officer:
        oidc_login(officer, stack.base_url, TOMAS)
        assert officer.get(f"{stack.base_url}/bridge").status_code == 200
    with requests.Session() as rating:
        saml_login(rating, stack.base_url, JONAS)
        refused = rating.get(f"{stack.base_url}/bridge")
        assert refused.status_code == 403
        assert "Not for your rank" in refused.text and "correlation" in refused.text.lower()
        api = rating.get(f"{stack.base_url}/bridge", headers={"Accept": "application/json"})
        assert api.status_code == 403 and api.json()["error"] == "rank_forbidden"


@pytest.mark.parametrize("login", [oidc_login, saml_login], ids=["oidc", "saml"])
def test_logout_without_csrf_is_refused(
    stack: Stack, http: requests.Session, login: object
) -> None:
    """POST /auth/logout without (or with a wrong) CSRF token is 403; the session stays."""
    login(http, stack.base_url)  # type: ignore[operator]
    for data in ({}, {"csrf_token": "forged"}):
        answer = http.post(f"{stack.base_url}/auth/logout", data=data, allow_redirects=False)
        assert answer.status_code == 403
        assert http.get(f"{stack.base_url}/me").status_code == 200
    assert http.get(f"{stack.base_url}/auth/logout", allow_redirects=False).status_code == 405
    assert http.get(f"{stack.base_url}/me").status_code == 200


def test_oidc_logout_redirects_to_end_session(stack: Stack, http: requests.Session) -> None:
    """OIDC logout ends the local session and sends the browser to the end-session URL."""
    oidc_login(http, stack.base_url)
    answer = http.post(
        f"{stack.base_url}/auth/logout",
        data={"csrf_token": _csrf(http, stack.base_url)},
        allow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(stack.sandbox.issuer + "/connect/endsession?")
    assert "id_token_hint=" in answer.headers["Location"]
    assert http.get(f"{stack.base_url}/me").status_code == 401
    back = http.get(answer.headers["Location"], allow_redirects=False)
    assert back.headers["Location"] == f"{stack.base_url}/"


def test_saml_logout_round_trip(stack: Stack, http: requests.Session) -> None:
    """SAML logout sends a signed LogoutRequest; the IdP's LogoutResponse lands on /."""
    from .helpers import forms

    saml_login(http, stack.base_url)
    answer = http.post(
        f"{stack.base_url}/auth/logout",
        data={"csrf_token": _csrf(http, stack.base_url)},
        allow_redirects=False,
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(stack.sandbox.urls["saml_slo"] + "?SAMLRequest=")
    assert http.get(f"{stack.base_url}/me").status_code == 401
    idp = http.get(answer.headers["Location"], allow_redirects=False)
    form = forms(idp.text)[0]
    assert form["action"] == f"{stack.base_url}/auth/saml/slo"
    done = http.post(form["action"], data=form["fields"], allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"] == "/"
    replay = http.post(form["action"], data=form["fields"], allow_redirects=False)
    assert replay.status_code == 400


def test_login_chooser(stack: Stack, http: requests.Session) -> None:
    """/auth/login offers both protocols and keeps a safe next; headers forbid framing."""
    answer = http.get(f"{stack.base_url}/auth/login", params={"next": "/bridge"})
    assert answer.status_code == 200
    assert "/auth/login/oidc?next=/bridge" in answer.text
    assert "/auth/login/saml?next=/bridge" in answer.text
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"
    hostile = http.get(f"{stack.base_url}/auth/login", params={"next": "//evil.example"})
    assert hostile.status_code == 400
