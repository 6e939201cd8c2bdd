"""``OidcClient`` alone, no web layer: a login completes only in the browser that started it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rpkit.errors import CallbackError, ValidationError
from rpkit.oidc import BROWSER_COOKIE
from rpkit.store import MemoryStore
from rpkit.testing import SandboxHandle

from .conftest import make_client, sign_in
from .fake_op import REDIRECT_URI

OTHER_BROWSER = "another-browser-binding-cookie-0123456789ab"
TOMAS = "tomas.berg@nordic-aurora.example"  # Chief Officer in the sandbox's seed


def token_requests(sandbox: SandboxHandle) -> int:
    return sandbox.request_counts().get("token", 0)


class _RecordingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, bytes]] = []

    def set(self, key: str, value: bytes, ttl: timedelta) -> None:
        self.writes.append((key, value))
        super().set(key, value, ttl)


def test_callback_from_another_browser_is_refused_and_burns_the_login(
    sandbox: SandboxHandle,
) -> None:
    """The callback carried to another browser (login CSRF, a leaked URL) is refused with
    ``browser_binding``, exchanges no code, and cannot be retried by the first browser."""
    client = make_client(sandbox)
    started = client.start_login()
    params = sign_in(started.url, TOMAS)
    with pytest.raises(CallbackError) as exc:
        client.finish_login(params, browser_token=OTHER_BROWSER)
    assert exc.value.reason == "browser_binding"
    assert token_requests(sandbox) == 0
    with pytest.raises(CallbackError) as again:
        client.finish_login(params, browser_token=started.cookie.value)
    assert again.value.reason == "state_unknown"
    assert token_requests(sandbox) == 0


@pytest.mark.parametrize("token", [None, ""], ids=["none", "empty"])
def test_callback_without_the_binding_cookie_is_refused(
    sandbox: SandboxHandle, token: str | None
) -> None:
    """No cookie at all (a caller that forgot it, a browser that dropped it) fails closed."""
    client = make_client(sandbox)
    params = sign_in(client.start_login().url, TOMAS)
    with pytest.raises(CallbackError) as exc:
        client.finish_login(params, browser_token=token)
    assert exc.value.reason == "browser_binding"
    assert token_requests(sandbox) == 0


def test_the_starting_browser_completes_with_the_cookie_it_was_given(
    sandbox: SandboxHandle,
) -> None:
    """The cookie to set comes with the URL; it is HttpOnly, scoped to the callback path,
    lives as long as the pending login, and is Lax for a redirect back (a top-level GET)."""
    client = make_client(sandbox)
    started = client.start_login(return_to="/bridge")
    cookie = started.cookie
    assert cookie.name == BROWSER_COOKIE == "rpkit_oidc"
    assert cookie.path == "/callback" == REDIRECT_URI.removeprefix("http://127.0.0.1:5999")
    assert cookie.max_age == 15 * 60
    assert (cookie.samesite, cookie.httponly) == ("Lax", True)
    result = client.finish_login(sign_in(started.url, TOMAS), browser_token=cookie.value)
    assert result.identity.rank == "Chief Officer"
    assert result.return_to == "/bridge"


def test_form_post_cookie_rides_a_cross_site_post(sandbox: SandboxHandle) -> None:
    """form_post answers arrive as a cross-site POST, which carries only SameSite=None."""
    started = make_client(sandbox).start_login(response_mode="form_post")
    assert started.cookie.samesite == "None"
    assert started.cookie.secure


def test_a_well_formed_browser_cookie_is_kept(sandbox: SandboxHandle) -> None:
    """Logins started in two tabs share the browser's cookie, so both complete."""
    client = make_client(sandbox)
    first = client.start_login()
    second = client.start_login(browser_token=first.cookie.value)
    assert second.cookie.value == first.cookie.value
    assert client.start_login(browser_token="short").cookie.value != "short"
    for started in (second, first):
        result = client.finish_login(sign_in(started.url, TOMAS), browser_token=first.cookie.value)
        assert result.identity.rank == "Chief Officer"


def test_the_store_keeps_hashes_not_bearer_values(sandbox: SandboxHandle) -> None:
    """The store key is a hash of the state (keys show up in monitoring), the browser's
    cookie value is kept only as a hash, and the pending login is one entry."""
    store = _RecordingStore()
    client = make_client(sandbox, store=store)
    started = client.start_login()
    assert len(store.writes) == 1
    key, value = store.writes[0]
    assert key.startswith("oidc:state:")
    assert started.login.state not in key
    assert started.cookie.value not in key
    assert started.cookie.value.encode() not in value


def test_return_to_must_be_a_path_on_this_site(sandbox: SandboxHandle) -> None:
    """An open redirect cannot be planted in a pending login."""
    with pytest.raises(ValidationError):
        make_client(sandbox).start_login(return_to="https://evil.example/")
