"""The black-box contract of the sample app, run against every framework's app.

The same requests and the same assertions for ``python -m example_app`` (Flask) and
``python -m example_app.fastapi``: both logins, sessions and their cookies, the rank gate,
401 JSON for APIs, the bearer API, logout (CSRF-checked), single logout, back-channel
logout, hostile ``next``, forged, replayed and cross-browser callbacks.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt

from rpkit.testing import DEMO_CLIENT_ID
from tests.flask.helpers import (
    INGRID,
    JONAS,
    LENA,
    TOMAS,
    forms,
    oidc_callback_url,
    oidc_login,
    saml_acs_post,
    saml_login,
    sandbox_pick,
)
from tests.flask.test_next import OPEN_REDIRECTS

from .conftest import Stack, session_cookies

LOGINS = pytest.mark.parametrize("login", [oidc_login, saml_login], ids=["oidc", "saml"])


def _refused(answer: requests.Response, status: int = 400) -> None:
    assert answer.status_code == status, answer.text[:300]
    assert not session_cookies(answer)
    assert "Correlation id" in answer.text
    assert "Traceback" not in answer.text


def _callback_with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


def _csrf(http: requests.Session, base_url: str) -> str:
    page = http.get(f"{base_url}/profile")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:300]
    return match.group(1)


# -- sessions --------------------------------------------------------------------------


def test_me_signed_out_is_401_json(stack: Stack, http: requests.Session) -> None:
    answer = http.get(f"{stack.base_url}/me")
    assert answer.status_code == 401
    assert answer.json() == {"authenticated": False}


@LOGINS
def test_login_sets_session_and_me(stack: Stack, http: requests.Session, login: object) -> None:
    """After either login /me reports the crew member; the cookie is an opaque random id."""
    answer = login(http, stack.base_url)  # type: ignore[operator]
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/profile"
    [cookie] = session_cookies(answer)
    assert "HttpOnly" in cookie and "Path=/" in cookie and "Secure" not in cookie
    assert "samesite=lax" in cookie.lower()
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 40 and "." not in value
    me = http.get(f"{stack.base_url}/me").json()
    assert me["authenticated"] is True
    assert me["protocol"] == ("oidc" if login is oidc_login else "saml")
    assert me["issuer"] == stack.sandbox.issuer
    assert me["rank"] == "Master" and me["email"] == INGRID and me["name"] == "Ingrid Larsen"
    profile = http.get(f"{stack.base_url}/profile")
    assert profile.status_code == 200 and 'data-testid="profile-rank"' in profile.text
    assert profile.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("in_id_token", "back_channel"),
    [(True, {"token": 1}), (False, {"token": 1, "userinfo": 1})],
    ids=["always_include_user_claims_in_id_token", "duende-default-claims-in-userinfo"],
)
def test_warm_oidc_login_back_channel_requests(
    stack: Stack, http: requests.Session, in_id_token: bool, back_channel: dict[str, int]
) -> None:
    """Once discovery and the keys are cached, a login is one token request to Dualog, plus
    userinfo only when the ID token lacks the crew claims (as tests/interop asserts)."""
    clients = stack.sandbox.state.clients
    demo = clients[DEMO_CLIENT_ID]
    clients[DEMO_CLIENT_ID] = replace(demo, always_include_user_claims_in_id_token=in_id_token)
    try:
        assert oidc_login(http, stack.base_url).status_code == 303
        stack.sandbox.reset_counts()
        with requests.Session() as other:
            assert oidc_login(other, stack.base_url, TOMAS).status_code == 303
            assert other.get(f"{stack.base_url}/me").json()["rank"] == "Chief Officer"
        counts = {k: v for k, v in stack.sandbox.request_counts().items() if v}
    finally:
        clients[DEMO_CLIENT_ID] = demo
    assert counts == {"authorize": 2, **back_channel}  # login page GET + card POST


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
        assert 'data-testid="logout"' in refused.text  # the app's layout, signed in
        api = rating.get(f"{stack.base_url}/bridge", headers={"Accept": "application/json"})
        assert api.status_code == 403 and api.json()["error"] == "rank_forbidden"


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


def test_unknown_page_is_a_friendly_404(stack: Stack, http: requests.Session) -> None:
    answer = http.get(f"{stack.base_url}/no-such-page")
    assert answer.status_code == 404
    assert "Correlation id" in answer.text and "Traceback" not in answer.text


def test_saml_metadata(stack: Stack, http: requests.Session) -> None:
    answer = http.get(f"{stack.base_url}/auth/saml/metadata")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/samlmetadata+xml")
    assert f'entityID="{stack.base_url}/auth/saml/metadata"' in answer.text


# GET-only auth routes answer HEAD as GET, without a body: Flask's and Starlette's routing
# add HEAD to every GET route, Django's views take it with require_safe.
GET_ROUTES = [
    "/auth/login?next=/bridge",
    "/auth/login/oidc",
    "/auth/login/saml",
    "/auth/saml/metadata",
    "/auth/oidc/frontchannel-logout",
]


def _cookie_names(answer: requests.Response) -> list[str]:
    return sorted(h.split("=", 1)[0] for h in answer.raw.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize("path", GET_ROUTES, ids=lambda path: path.split("?")[0])
def test_head_on_a_get_route_answers_as_get(
    stack: Stack, http: requests.Session, path: str
) -> None:
    """HEAD gets GET's status, content type, redirect target and cookies with no body; the
    kept-alive connection then serves the next request."""
    url = f"{stack.base_url}{path}"
    with requests.Session() as other:
        get = other.get(url, allow_redirects=False)
    head = http.head(url, allow_redirects=False)
    assert head.status_code == get.status_code, head.headers
    assert head.content == b""
    assert head.headers.get("Content-Type") == get.headers.get("Content-Type")
    where = urlsplit(head.headers.get("Location", ""))
    assert where._replace(query="") == urlsplit(get.headers.get("Location", ""))._replace(query="")
    assert _cookie_names(head) == _cookie_names(get)
    assert http.get(f"{stack.base_url}/me").json() == {"authenticated": False}


def test_a_login_started_by_head_completes(stack: Stack, http: requests.Session) -> None:
    """HEAD on the OIDC login route starts a real login, as GET does (Flask's behaviour): its
    state is stored and bound to this browser, and the callback signs in."""
    start = http.head(
        f"{stack.base_url}/auth/login/oidc", params={"next": "/profile"}, allow_redirects=False
    )
    assert start.status_code == 302 and start.content == b""
    page = http.get(start.headers["Location"], allow_redirects=False)
    picked = sandbox_pick(http, page, INGRID)
    callback = http.get(picked.headers["Location"], allow_redirects=False)
    assert callback.status_code == 303 and callback.headers["Location"] == "/profile"
    assert http.get(f"{stack.base_url}/me").json()["email"] == INGRID


# -- logout ----------------------------------------------------------------------------


@LOGINS
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


@pytest.mark.parametrize("with_cookie", [True, False], ids=["same_browser", "cross_site"])
def test_idp_initiated_logout(stack: Stack, http: requests.Session, with_cookie: bool) -> None:
    """The IdP's signed LogoutRequest ends that session only; a replay is refused."""
    saml_login(http, stack.base_url, TOMAS)
    with requests.Session() as bystander, requests.Session() as stranger:
        saml_login(bystander, stack.base_url, INGRID)
        page = http.get(stack.sandbox.issuer + "/saml/logout")
        form = forms(page.text)[0]
        assert form["action"] == f"{stack.base_url}/auth/saml/slo"
        poster = http if with_cookie else stranger
        answer = poster.post(str(form["action"]), data=form["fields"], allow_redirects=False)
        assert answer.status_code in (200, 302), answer.text[:300]
        assert http.get(f"{stack.base_url}/me").status_code == 401
        assert bystander.get(f"{stack.base_url}/me").status_code == 200
        replay = poster.post(str(form["action"]), data=form["fields"], allow_redirects=False)
        assert replay.status_code == 400


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
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}, payload, key)


def test_backchannel_logout(stack: Stack) -> None:
    """A valid logout token ends that user's sessions; its replay and a forgery are 400."""
    with requests.Session() as one, requests.Session() as other:
        oidc_login(one, stack.base_url, INGRID)
        oidc_login(other, stack.base_url, JONAS)
        sub = one.get(f"{stack.base_url}/me").json()["subject"]
        url = f"{stack.base_url}/auth/oidc/backchannel-logout"
        token = _logout_token(stack, sub=sub)
        answer = requests.post(url, data={"logout_token": token}, timeout=10)
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
        assert one.get(f"{stack.base_url}/me").status_code == 401
        assert other.get(f"{stack.base_url}/me").status_code == 200
        replay = requests.post(url, data={"logout_token": token}, timeout=10)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_request"
        forged = requests.post(url, data={"logout_token": token[:-6] + "AAAAAA"}, timeout=10)
        assert forged.status_code == 400
        assert requests.post(url, data={}, timeout=10).status_code == 400


# -- bearer API ------------------------------------------------------------------------


def test_bearer_api(stack: Stack, http: requests.Session) -> None:
    """/api/crew/me accepts a sandbox access token and refuses none, junk or a forgery."""
    token = stack.sandbox.password_tokens(JONAS)["access_token"]
    api = f"{stack.base_url}/api/crew/me"
    ok = http.get(api, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["issuer"] == stack.sandbox.issuer and "openid" in ok.json()["scopes"]
    missing = http.get(api)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    junk = http.get(api, headers={"Authorization": "Bearer abc.def"})
    assert junk.status_code == 401 and 'error="invalid_token"' in junk.headers["WWW-Authenticate"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert http.get(api, headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    other = http.get(api, headers={"Authorization": f"Bearer {stack.sandbox.scim_token()}"})
    assert other.status_code == 401 and other.json()["error"] == "token_error:audience"


# -- hostile input ---------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["oidc", "saml"])
@pytest.mark.parametrize("value", OPEN_REDIRECTS.values(), ids=OPEN_REDIRECTS.keys())
def test_login_refuses_open_redirect(
    stack: Stack, http: requests.Session, protocol: str, value: str
) -> None:
    answer = http.get(
        f"{stack.base_url}/auth/login/{protocol}", params={"next": value}, allow_redirects=False
    )
    _refused(answer)


def test_forged_state(stack: Stack, http: requests.Session) -> None:
    url = oidc_callback_url(http, stack.base_url)
    _refused(http.get(_callback_with(url, state="forged-" + "x" * 40), allow_redirects=False))
    assert http.get(f"{stack.base_url}/me").status_code == 401


def test_missing_state_and_code(stack: Stack, http: requests.Session) -> None:
    _refused(http.get(f"{stack.base_url}/auth/oidc/callback", allow_redirects=False))
    _refused(http.post(f"{stack.base_url}/auth/oidc/callback", allow_redirects=False))


def test_replayed_callback(stack: Stack, http: requests.Session) -> None:
    url = oidc_callback_url(http, stack.base_url)
    assert http.get(url, allow_redirects=False).status_code == 303
    with requests.Session() as attacker:
        attacker.cookies.update(http.cookies)
        attacker.cookies.clear(domain="127.0.0.1", path="/", name="rpkit_session")
        _refused(attacker.get(url, allow_redirects=False))
        assert attacker.get(f"{stack.base_url}/me").status_code == 401


def test_callback_in_another_browser(stack: Stack, http: requests.Session) -> None:
    url = oidc_callback_url(http, stack.base_url)
    with requests.Session() as victim:
        _refused(victim.get(url, allow_redirects=False))
        assert victim.get(f"{stack.base_url}/me").status_code == 401
    _refused(http.get(url, allow_redirects=False))  # burnt by the refused attempt


def test_query_callback_replayed_as_form_post(stack: Stack, http: requests.Session) -> None:
    url = oidc_callback_url(http, stack.base_url)
    form = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    _refused(http.post(url.split("?", 1)[0], data=form, allow_redirects=False))
    assert http.get(f"{stack.base_url}/me").status_code == 401


def test_oidc_deny_and_error_injection(stack: Stack, http: requests.Session) -> None:
    url = oidc_callback_url(http, stack.base_url, deny=True)
    hostile = http.get(
        _callback_with(url, error="<script>alert(1)</script>"), allow_redirects=False
    )
    _refused(hostile)
    assert "<script>" not in hostile.text
    url = oidc_callback_url(http, stack.base_url, deny=True)
    denied = http.get(url, allow_redirects=False)
    _refused(denied)
    assert "access_denied" in denied.text


def test_saml_deny(stack: Stack, http: requests.Session) -> None:
    action, fields = saml_acs_post(http, stack.base_url, deny=True)
    _refused(http.post(action, data=fields, allow_redirects=False))


def test_saml_replayed_response(stack: Stack, http: requests.Session) -> None:
    action, fields = saml_acs_post(http, stack.base_url)
    assert http.post(action, data=fields, allow_redirects=False).status_code == 303
    with requests.Session() as attacker:
        attacker.cookies.update(http.cookies)
        attacker.cookies.clear(domain="127.0.0.1", path="/", name="rpkit_session")
        _refused(attacker.post(action, data=fields, allow_redirects=False))


@pytest.mark.parametrize("relay_state", ["", "forged", "/profile", "A" * 43])
def test_saml_forged_relay_state(stack: Stack, http: requests.Session, relay_state: str) -> None:
    action, fields = saml_acs_post(http, stack.base_url)
    fields["RelayState"] = relay_state
    _refused(http.post(action, data=fields, allow_redirects=False))


def test_saml_response_in_another_browser(stack: Stack, http: requests.Session) -> None:
    action, fields = saml_acs_post(http, stack.base_url)
    with requests.Session() as other:
        _refused(other.post(action, data=fields, allow_redirects=False))


def test_saml_tampered_response(stack: Stack, http: requests.Session) -> None:
    action, fields = saml_acs_post(http, stack.base_url)
    xml = base64.b64decode(fields["SAMLResponse"]).replace(b"Master", b"Admiral")
    fields["SAMLResponse"] = base64.b64encode(xml).decode()
    _refused(http.post(action, data=fields, allow_redirects=False))


@pytest.mark.parametrize("body", [{}, {"SAMLResponse": "%%%not-base64"}, {"SAMLResponse": "PHg+"}])
def test_saml_garbage(stack: Stack, http: requests.Session, body: dict[str, str]) -> None:
    _refused(http.post(f"{stack.base_url}/auth/saml/acs", data=body, allow_redirects=False))


def test_slo_without_message(stack: Stack, http: requests.Session) -> None:
    _refused(http.get(f"{stack.base_url}/auth/saml/slo", allow_redirects=False))


def test_inactive_user_cannot_sign_in(stack: Stack, http: requests.Session) -> None:
    start = http.get(f"{stack.base_url}/auth/login/oidc", allow_redirects=False)
    answer = sandbox_pick(http, http.get(start.headers["Location"]), LENA)
    assert answer.status_code == 403
    assert http.get(f"{stack.base_url}/me").status_code == 401
