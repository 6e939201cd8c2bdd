from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from rpkit.config import OidcConfig
from rpkit.oidc import OidcClient
from rpkit.sandbox import OidcClientConfig
from rpkit.testing import SandboxHandle, sandbox_fixture, sandbox_server

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


# The test client as the sandbox registers it: the same id, secret and URIs as FakeOP's,
# so ``make_client`` serves both, plus refresh tokens (Duende's AllowOfflineAccess).
SANDBOX_CLIENT = OidcClientConfig(
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    redirect_uris=(REDIRECT_URI,),
    post_logout_redirect_uris=("http://127.0.0.1:5999/",),
    allow_offline_access=True,
)


@contextmanager
def oidc_sandbox(data_dir: Path, **config: Any) -> Iterator[SandboxHandle]:
    """The sandbox (the fake Dualog) with the test client registered; ``config``: more
    :class:`rpkit.sandbox.SandboxConfig` fields (``seed_file``...)."""
    with sandbox_server(data_dir, clients=(SANDBOX_CLIENT,), **config) as handle:
        yield handle


module_sandbox = sandbox_fixture(scope="module", clients=(SANDBOX_CLIENT,))


@pytest.fixture
def sandbox(module_sandbox: SandboxHandle) -> SandboxHandle:
    """The sandbox with the test client, shared by a module and reset for each test (seed,
    faults, counts, claim overrides)."""
    module_sandbox.reset()
    return module_sandbox


def claims_in_id_token(sandbox: SandboxHandle, on: bool) -> None:
    """Duende's AlwaysIncludeUserClaimsInIdToken for the test client (a reset restores it)."""
    clients = sandbox.state.clients
    clients[CLIENT_ID] = replace(clients[CLIENT_ID], always_include_user_claims_in_id_token=on)


def sandbox_back_channel(sandbox: SandboxHandle) -> Counter[str]:
    """Requests per sandbox endpoint since the last count reset, but the browser's (authorize)."""
    return Counter({k: n for k, n in sandbox.request_counts().items() if n and k != "authorize"})


def make_client(op: FakeOP | SandboxHandle, **overrides: Any) -> OidcClient:
    values: dict[str, Any] = {
        "issuer": op.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "post_logout_redirect_uri": "http://127.0.0.1:5999/",
    }
    kwargs = {k: overrides.pop(k) for k in ("clock", "store") if k in overrides}
    if "http_client" in overrides:  # ``http`` is OidcConfig's HttpConfig
        kwargs["http"] = overrides.pop("http_client")
    values.update(overrides)
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


def sign_in(url: str, user: str) -> dict[str, str]:
    """Play the browser at the sandbox: open the authorize URL, pick ``user``'s crew card,
    return the callback parameters (from the redirect, or from the form_post page's fields)."""
    with requests.Session() as browser:
        page = browser.get(url, timeout=10)
        assert page.status_code == 200, page.status_code
        answer = browser.post(page.url, data={"card": user}, allow_redirects=False, timeout=10)
    return callback_params(answer)


def sandbox_login(client: OidcClient, user: str, **finish: Any) -> Any:
    """A login at the sandbox as ``user`` (a crew member's userName), in one browser."""
    url = client.start_login(browser_token=BROWSER).url
    return client.finish_login(sign_in(url, user), **finish, browser_token=BROWSER)


def login(client: OidcClient, **start: Any) -> Any:
    url = client.start_login(**start, browser_token=BROWSER).url
    return client.finish_login(follow_authorize(url), browser_token=BROWSER)


def follow_end_session(url: str) -> dict[str, str]:
    """Play the browser at the end-session endpoint: return the post-logout redirect's query."""
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.status_code
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))
