"""Forged and replayed logins are refused with a friendly 4xx page and create no session."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from .conftest import Stack, session_cookies
from .helpers import LENA, oidc_callback_url, saml_acs_post, sandbox_pick


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


def test_forged_state(stack: Stack, http: requests.Session) -> None:
    """A callback with a state we never issued is refused."""
    url = oidc_callback_url(http, stack.base_url)
    _refused(http.get(_callback_with(url, state="forged-" + "x" * 40), allow_redirects=False))
    assert http.get(f"{stack.base_url}/me").status_code == 401


def test_missing_state_and_code(stack: Stack, http: requests.Session) -> None:
    """A bare callback (no state, no code) is refused."""
    _refused(http.get(f"{stack.base_url}/auth/oidc/callback", allow_redirects=False))
    _refused(http.post(f"{stack.base_url}/auth/oidc/callback", allow_redirects=False))


def test_replayed_callback(stack: Stack, http: requests.Session) -> None:
    """The same callback URL works once; the replay is refused and signs nobody in."""
    url = oidc_callback_url(http, stack.base_url)
    assert http.get(url, allow_redirects=False).status_code == 303
    with requests.Session() as attacker:
        attacker.cookies.update(http.cookies)
        attacker.cookies.clear(domain="127.0.0.1", path="/", name="rpkit_session")
        _refused(attacker.get(url, allow_redirects=False))
        assert attacker.get(f"{stack.base_url}/me").status_code == 401


def test_callback_in_another_browser(stack: Stack, http: requests.Session) -> None:
    """A callback carried to another browser (login CSRF) fails the browser binding."""
    url = oidc_callback_url(http, stack.base_url)
    with requests.Session() as victim:
        _refused(victim.get(url, allow_redirects=False))
        assert victim.get(f"{stack.base_url}/me").status_code == 401
    # The state was consumed by the refused attempt: the original browser cannot reuse it.
    _refused(http.get(url, allow_redirects=False))


def test_query_callback_replayed_as_form_post(stack: Stack, http: requests.Session) -> None:
    """A login that asked for a query response refuses the same parameters posted."""
    url = oidc_callback_url(http, stack.base_url)
    parts = urlsplit(url)
    form = {k: v[0] for k, v in parse_qs(parts.query).items()}
    _refused(http.post(url.split("?", 1)[0], data=form, allow_redirects=False))
    assert http.get(f"{stack.base_url}/me").status_code == 401


def test_oidc_deny_shows_error_page(stack: Stack, http: requests.Session) -> None:
    """The sandbox's Deny comes back as error=access_denied: a friendly 400 page."""
    url = oidc_callback_url(http, stack.base_url, deny=True)
    answer = http.get(url, allow_redirects=False)
    _refused(answer)
    assert "access_denied" in answer.text


def test_oidc_error_injection_is_escaped(stack: Stack, http: requests.Session) -> None:
    """An attacker-chosen error= value is not reflected as markup."""
    url = oidc_callback_url(http, stack.base_url, deny=True)
    answer = http.get(_callback_with(url, error="<script>alert(1)</script>"), allow_redirects=False)
    _refused(answer)
    assert "<script>" not in answer.text


def test_saml_deny_shows_error_page(stack: Stack, http: requests.Session) -> None:
    """A SAML RequestDenied status ends on a friendly 400 page."""
    action, fields = saml_acs_post(http, stack.base_url, deny=True)
    _refused(http.post(action, data=fields, allow_redirects=False))


def test_saml_replayed_response(stack: Stack, http: requests.Session) -> None:
    """The same SAMLResponse posted twice signs in once."""
    action, fields = saml_acs_post(http, stack.base_url)
    assert http.post(action, data=fields, allow_redirects=False).status_code == 303
    with requests.Session() as attacker:
        attacker.cookies.update(http.cookies)
        attacker.cookies.clear(domain="127.0.0.1", path="/", name="rpkit_session")
        _refused(attacker.post(action, data=fields, allow_redirects=False))


@pytest.mark.parametrize("relay_state", ["", "forged", "/profile", "A" * 43])
def test_saml_forged_relay_state(stack: Stack, http: requests.Session, relay_state: str) -> None:
    """A RelayState that names no pending request of ours is refused."""
    action, fields = saml_acs_post(http, stack.base_url)
    fields["RelayState"] = relay_state
    _refused(http.post(action, data=fields, allow_redirects=False))


def test_saml_response_in_another_browser(stack: Stack, http: requests.Session) -> None:
    """A SAMLResponse posted from a browser without the login's cookie is refused."""
    action, fields = saml_acs_post(http, stack.base_url)
    with requests.Session() as other:
        _refused(other.post(action, data=fields, allow_redirects=False))


def test_saml_tampered_response(stack: Stack, http: requests.Session) -> None:
    """A response whose signed content was changed is refused."""
    action, fields = saml_acs_post(http, stack.base_url)
    xml = base64.b64decode(fields["SAMLResponse"]).replace(b"Master", b"Admiral")
    fields["SAMLResponse"] = base64.b64encode(xml).decode()
    _refused(http.post(action, data=fields, allow_redirects=False))


@pytest.mark.parametrize("body", [{}, {"SAMLResponse": "%%%not-base64"}, {"SAMLResponse": "PHg+"}])
def test_saml_garbage(stack: Stack, http: requests.Session, body: dict[str, str]) -> None:
    """Garbage at the ACS is a 400, never a 500."""
    _refused(http.post(f"{stack.base_url}/auth/saml/acs", data=body, allow_redirects=False))


def test_inactive_user_cannot_sign_in(stack: Stack, http: requests.Session) -> None:
    """The sandbox refuses an inactive crew member on its login page; no session."""
    start = http.get(f"{stack.base_url}/auth/login/oidc", allow_redirects=False)
    page = http.get(start.headers["Location"])
    answer = sandbox_pick(http, page, LENA)
    assert answer.status_code == 403
    assert http.get(f"{stack.base_url}/me").status_code == 401
