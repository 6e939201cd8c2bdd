"""RPKIT_OIDC_RESPONSE_MODE and RPKIT_OIDC_SCOPES in the sample app, over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from example_app import create_app

from .conftest import HTTPS_BASE, Stack, session_cookies
from .helpers import INGRID, app_config, forms, sandbox_pick


def test_form_post_login_end_to_end(stack: Stack) -> None:
    """With form_post the code comes back in a POST; the binding cookie survives a
    cross-site POST (SameSite=None; Secure) and the sign-in has rank, email and name."""
    app = create_app(
        {**app_config(HTTPS_BASE, stack.sandbox), "RPKIT_OIDC_RESPONSE_MODE": "form_post"}
    )
    client = app.test_client()
    start = client.get("/auth/login/oidc?next=/me")
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["response_mode"] == ["form_post"]
    assert query["scope"] == ["openid profile email crew.public"]
    binding = start.headers.getlist("Set-Cookie")[0]
    assert "SameSite=None" in binding and "Secure" in binding and "HttpOnly" in binding
    with requests.Session() as idp:
        page = idp.get(start.headers["Location"])
        posted = sandbox_pick(idp, page, INGRID)
    assert posted.status_code == 200, posted.text[:300]
    [form] = forms(posted.text)
    assert form["action"] == f"{HTTPS_BASE}/auth/oidc/callback"
    assert "code" in form["fields"]
    replayed_as_query = client.get("/auth/oidc/callback", query_string=form["fields"])
    assert replayed_as_query.status_code == 400  # the login is burnt, no session
    assert not session_cookies(replayed_as_query)


def test_form_post_callback_signs_in(stack: Stack) -> None:
    """The POSTed callback completes the login: /me shows the crew member with rank."""
    app = create_app(
        {**app_config(HTTPS_BASE, stack.sandbox), "RPKIT_OIDC_RESPONSE_MODE": "form_post"}
    )
    client = app.test_client()
    start = client.get("/auth/login/oidc?next=/me")
    with requests.Session() as idp:
        posted = sandbox_pick(idp, idp.get(start.headers["Location"]), INGRID)
    [form] = forms(posted.text)
    done = client.post("/auth/oidc/callback", data=form["fields"])
    assert done.status_code == 303, done.get_data(as_text=True)[:300]
    assert session_cookies(done)
    me = client.get("/me").get_json()
    assert me["authenticated"] is True
    assert me["rank"] and me["email"] and me["name"]


def test_scopes_from_the_environment(stack: Stack) -> None:
    """RPKIT_OIDC_SCOPES replaces the default scopes of the login request."""
    app = create_app(
        {**app_config(HTTPS_BASE, stack.sandbox), "RPKIT_OIDC_SCOPES": "openid email crew.public"}
    )
    start = app.test_client().get("/auth/login/oidc")
    assert parse_qs(urlsplit(start.headers["Location"]).query)["scope"] == [
        "openid email crew.public"
    ]


@pytest.mark.parametrize("value", ["fragment", "post"])
def test_unknown_response_mode_fails_at_start(stack: Stack, value: str) -> None:
    """A response mode other than query or form_post is a configuration error at start."""
    from rpkit.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        create_app({**app_config(HTTPS_BASE, stack.sandbox), "RPKIT_OIDC_RESPONSE_MODE": value})
