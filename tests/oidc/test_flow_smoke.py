"""The happy path end to end against the sandbox (the fake Dualog), as a user meets it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rpkit.config import OidcConfig
from rpkit.errors import CallbackError
from rpkit.oidc import OidcClient
from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxHandle, sandbox_server

from .conftest import BROWSER, sign_in

USER = "ingrid.larsen@nordic-aurora.example"  # Master of MV Nordic Aurora in the seed


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with sandbox_server(tmp_path_factory.mktemp("oidc-sandbox")) as handle:
        yield handle


def make_client(sandbox: SandboxHandle) -> OidcClient:
    demo = sandbox.state.clients[DEMO_CLIENT_ID]
    return OidcClient(
        OidcConfig(
            issuer=sandbox.issuer,
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            redirect_uri=demo.redirect_uris[0],
            post_logout_redirect_uri=demo.post_logout_redirect_uris[0],
        )
    )


def login(client: OidcClient, **start: Any) -> Any:
    url = client.start_login(**start, browser_token=BROWSER).url
    return client.finish_login(sign_in(url, USER), browser_token=BROWSER)


def test_code_flow_yields_identity_with_rank(sandbox: SandboxHandle) -> None:
    """A code flow with PKCE yields the crew member's identity, rank and ship included."""
    result = login(make_client(sandbox))
    assert result.identity.rank == "Master"
    assert result.identity.key == (sandbox.issuer, "87234")
    assert result.identity.ship_imo == "9312456"


def test_authorize_request_always_uses_pkce_s256_and_default_scopes(
    sandbox: SandboxHandle,
) -> None:
    """The authorize request carries S256 PKCE, the default scopes and the login's nonce."""
    started = make_client(sandbox).start_login(browser_token=BROWSER)
    url, state = started.url, started.login
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["openid profile email crew.public"]
    assert query["nonce"] == [state.nonce]


def test_replayed_callback_is_refused(sandbox: SandboxHandle) -> None:
    """The same callback twice: the second is refused as an unknown state."""
    client = make_client(sandbox)
    url = client.start_login(browser_token=BROWSER).url
    params = sign_in(url, USER)
    client.finish_login(params, browser_token=BROWSER)
    with pytest.raises(CallbackError) as exc:
        client.finish_login(params, browser_token=BROWSER)
    assert exc.value.reason == "state_unknown"


def test_callback_in_another_response_mode_is_refused(sandbox: SandboxHandle) -> None:
    """A login started with form_post and answered by query is refused."""
    client = make_client(sandbox)
    url = client.start_login(response_mode="form_post", browser_token=BROWSER).url
    params = sign_in(url, USER)
    with pytest.raises(CallbackError) as exc:
        client.finish_login(params, received_via="query", browser_token=BROWSER)
    assert exc.value.reason == "response_mode"


def test_callback_in_the_requested_response_mode_is_accepted(sandbox: SandboxHandle) -> None:
    """A form_post login answered by form_post signs the user in."""
    client = make_client(sandbox)
    url = client.start_login(response_mode="form_post", browser_token=BROWSER).url
    result = client.finish_login(
        sign_in(url, USER), received_via="form_post", browser_token=BROWSER
    )
    assert result.identity.rank == "Master"
