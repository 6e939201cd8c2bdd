from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from rpkit.config import OidcConfig
from rpkit.oidc import OidcClient

from .fake_op import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, FakeOP

# The browser's binding cookie (``AuthorizationRequest.cookie.value``) in flows that play
# one browser: passed to start_login and back to finish_login.
BROWSER = "test-browser-binding-cookie-0123456789abcde"


@pytest.fixture
def op() -> Iterator[FakeOP]:
    server = FakeOP().start()
    yield server
    server.stop()


class Clock:
    """An injectable wall clock in epoch seconds; tests move ``now`` instead of sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make_client(op: FakeOP, **overrides: Any) -> OidcClient:
    values: dict[str, Any] = {
        "issuer": op.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "post_logout_redirect_uri": "http://127.0.0.1:5999/",
    }
    clock = overrides.pop("clock", None)
    store = overrides.pop("store", None)
    values.update(overrides)
    kwargs: dict[str, Any] = {}
    if clock is not None:
        kwargs["clock"] = clock
    if store is not None:
        kwargs["store"] = store
    return OidcClient(OidcConfig(**values), **kwargs)


def follow_authorize(url: str) -> dict[str, str]:
    """Play the browser: GET the authorize URL, return the callback parameters."""
    return callback_params(requests.get(url, allow_redirects=False, timeout=5))


def callback_params(response: requests.Response) -> dict[str, str]:
    """The callback parameters of the provider's answer: a redirect or a form_post page."""
    if response.status_code == 302:
        return dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    assert response.status_code == 200, response.status_code
    # form_post (OAuth 2.0 Form Post Response Mode): the auto-submitting form's fields.
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', response.text))


def login(client: OidcClient, **start: Any) -> Any:
    url = client.start_login(**start, browser_token=BROWSER).url
    return client.finish_login(follow_authorize(url), browser_token=BROWSER)


def follow_end_session(url: str) -> dict[str, str]:
    """Play the browser at the end-session endpoint: return the post-logout redirect's query."""
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.status_code
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))
