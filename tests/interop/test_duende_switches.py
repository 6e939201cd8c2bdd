"""rpkit against every Duende-shaped switch of the sandbox's OIDC side, over real HTTP.

Each test registers one client with one switch turned, runs rpkit's ``OidcClient`` (or a
bare request where rpkit would never send the input) and asserts the provider's answer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from rpkit.config import OidcConfig
from rpkit.errors import ProviderResponseError
from rpkit.oidc import LoginResult, OidcClient
from rpkit.sandbox.config import DEFAULT_CLIENTS, OidcClientConfig
from rpkit.testing import SandboxHandle, sandbox_server

from ..oidc.conftest import BROWSER

APP = "http://127.0.0.1:5000"
REDIRECT = f"{APP}/auth/oidc/callback"
MASTER = "ingrid.larsen@nordic-aurora.example"
DEMO = next(c for c in DEFAULT_CLIENTS if c.client_id == "rpkit-demo")


@contextmanager
def provider(**switches: Any) -> Iterator[SandboxHandle]:
    """A sandbox whose demo client has ``switches`` turned (the rest: Duende's defaults)."""
    client = replace(DEMO, **{"allow_offline_access": False, **switches})
    others = tuple(c for c in DEFAULT_CLIENTS if c.client_id != DEMO.client_id)
    with sandbox_server(clients=(client, *others)) as sandbox:
        yield sandbox


def rp(sandbox: SandboxHandle, **config: Any) -> OidcClient:
    return OidcClient(
        OidcConfig(
            issuer=sandbox.issuer,
            client_id=DEMO.client_id,
            client_secret=DEMO.client_secret,
            redirect_uri=REDIRECT,
            post_logout_redirect_uri=f"{APP}/",
            **config,
        )
    )


def browser_answer(sandbox: SandboxHandle, url: str) -> requests.Response:
    """Open ``url`` (the authorize URL) and click the Master's crew card, or stop at an error."""
    with requests.Session() as http:
        page = http.get(url, timeout=10)
        if page.status_code != 200 or "crew-cards" not in page.text:
            return page
        return http.post(page.url, data={"card": MASTER}, allow_redirects=False, timeout=10)


def callback_params(answer: requests.Response) -> dict[str, str]:
    assert answer.status_code == 302, answer.text[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def login(client: OidcClient, sandbox: SandboxHandle) -> LoginResult:
    url = client.start_login(browser_token=BROWSER).url
    return client.finish_login(callback_params(browser_answer(sandbox, url)), browser_token=BROWSER)


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(text: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return data

    header, payload, _ = token.split(".")
    return part(header), part(payload)


@pytest.mark.parametrize("in_id_token", [False, True], ids=["default", "switch-on"])
def test_always_include_user_claims_in_id_token(in_id_token: bool) -> None:
    """Off (Duende's default): rank from userinfo; on: from the ID token, no userinfo call."""
    with provider(always_include_user_claims_in_id_token=in_id_token) as sandbox:
        client = rp(sandbox)
        result = login(client, sandbox)
        counts = sandbox.request_counts()
    assert result.identity.rank == "Master"
    assert result.identity.email == MASTER and result.identity.name
    assert ("rank" in result.id_token.claims) is in_id_token
    assert counts.get("userinfo", 0) == (0 if in_id_token else 1)
    assert "azp" not in result.id_token.claims
    assert result.id_token.claims["exp"] - result.id_token.claims["iat"] == 300


@pytest.mark.parametrize("response_mode", ["query", "form_post"])
def test_iss_in_every_authorization_response(response_mode: str) -> None:
    """RFC 9207: the callback carries iss (query and form_post); discovery promises it, so
    rpkit requires it, and a login succeeds."""
    with provider() as sandbox:
        client = rp(sandbox, response_mode=response_mode)
        assert client.metadata().authorization_response_iss_parameter_supported
        url = client.start_login(browser_token=BROWSER).url
        answer = browser_answer(sandbox, url)
        if response_mode == "query":
            params = callback_params(answer)
        else:
            assert answer.status_code == 200
            import re

            params = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text))
        assert params["iss"] == sandbox.issuer
        result = client.finish_login(params, received_via=response_mode, browser_token=BROWSER)  # type: ignore[arg-type]
    assert result.identity.rank == "Master"


def test_denied_login_carries_iss_too() -> None:
    """access_denied is a "safe" error: redirected to the app, with iss."""
    with provider() as sandbox:
        url = rp(sandbox).start_login(browser_token=BROWSER).url
        with requests.Session() as http:
            page = http.get(url, timeout=10)
            answer = http.post(page.url, data={"deny": "1"}, allow_redirects=False, timeout=10)
    params = callback_params(answer)
    assert params["error"] == "access_denied" and params["iss"] == sandbox.issuer


@pytest.mark.parametrize("require_pkce", [True, False], ids=["default", "switch-off"])
def test_require_pkce(require_pkce: bool) -> None:
    """Without code_challenge: Duende's error page (default), or a login page (switch off)."""
    with provider(require_pkce=require_pkce) as sandbox:
        url = rp(sandbox).start_login(browser_token=BROWSER).url
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        del query["code_challenge"], query["code_challenge_method"]
        page = requests.get(sandbox.urls["authorize"], params=query, timeout=10)
    if require_pkce:
        assert page.status_code == 400 and "data-reason=invalid_request" in page.text
        assert "code challenge required" in page.text and "require_pkce" in page.text
    else:
        assert page.status_code == 200 and "crew-cards" in page.text


def test_offline_access_refused_without_the_switch() -> None:
    """refresh_tokens=True against a client without AllowOfflineAccess: the IdP's error page
    names the fix and the app never gets a callback."""
    with provider() as sandbox:
        url = rp(sandbox, refresh_tokens=True).start_login(browser_token=BROWSER).url
        page = browser_answer(sandbox, url)
    assert page.status_code == 400 and "Location" not in page.headers
    assert "data-reason=invalid_scope" in page.text
    assert "allow_offline_access" in page.text and "AllowOfflineAccess" in page.text


@pytest.mark.parametrize("usage", ["reuse", "one_time"])
def test_refresh_token_usage(usage: str) -> None:
    """reuse answers with the same refresh token (usable again); one_time rotates and the
    old one is refused. rpkit refreshes either way, reading rank from userinfo."""
    with provider(allow_offline_access=True, refresh_token_usage=usage) as sandbox:
        client = rp(sandbox, refresh_tokens=True)
        result = login(client, sandbox)
        first = result.tokens.refresh_token
        assert first is not None
        refreshed = client.refresh(first, previous=result.id_token)
        assert refreshed.identity.rank == "Master" and refreshed.userinfo is not None
        again = refreshed.tokens.refresh_token
        assert again is not None
        if usage == "reuse":
            assert again == first
            assert client.refresh(first, previous=refreshed.id_token).identity.rank == "Master"
        else:
            assert again != first
            stale = requests.post(
                sandbox.urls["token"],
                data={"grant_type": "refresh_token", "refresh_token": first},
                auth=(DEMO.client_id, DEMO.client_secret or ""),
                timeout=10,
            )
            assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
            assert client.refresh(again, previous=refreshed.id_token).identity.rank == "Master"


@pytest.mark.parametrize(
    ("change", "reason", "fix"),
    [
        ({"client_id": "nobody"}, "invalid_client", "not registered"),
        ({"redirect_uri": "http://evil.example/cb"}, "invalid_request", "redirect_uris"),
        ({"scope": "openid crew_import"}, "invalid_scope", "add the scope"),
    ],
    ids=["unknown-client", "unregistered-redirect-uri", "refused-scope"],
)
def test_errors_that_must_not_be_redirected(change: dict[str, str], reason: str, fix: str) -> None:
    """Unknown client, unregistered redirect_uri, refused scope: the IdP's own page (400),
    naming the fix, never a redirect to the app."""
    with provider() as sandbox:
        url = rp(sandbox).start_login(browser_token=BROWSER).url
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        page = requests.get(
            sandbox.urls["authorize"], params={**query, **change}, allow_redirects=False, timeout=10
        )
    assert page.status_code == 400 and "Location" not in page.headers
    assert f"data-reason={reason}" in page.text and fix in page.text


def test_end_session_needs_a_valid_id_token_hint() -> None:
    """post_logout_redirect_uri and state are followed only with a valid id_token_hint: with
    rpkit's URL (hint included) the browser goes back; client_id alone or a forged hint does
    not."""
    with provider() as sandbox:
        client = rp(sandbox)
        result = login(client, sandbox)
        url = client.end_session_url(id_token_hint=result.tokens.id_token, state="s-1")
        back = requests.get(url, allow_redirects=False, timeout=10)
        assert back.status_code == 302 and back.headers["Location"] == f"{APP}/?state=s-1"
        no_hint = requests.get(
            client.end_session_url(id_token_hint=None, state="s-2"),
            allow_redirects=False,
            timeout=10,
        )
        assert no_hint.status_code == 200 and "data-testid=signed-out" in no_hint.text
        assert "post-logout-redirect" not in no_hint.text
        forged = (result.tokens.id_token or "")[:-6] + "AAAAAA"
        bad = requests.get(
            client.end_session_url(id_token_hint=forged, state="s-3"),
            allow_redirects=False,
            timeout=10,
        )
        assert bad.status_code == 400


def test_access_token_shape() -> None:
    """at+jwt; scope a JSON array; aud = API resources of the scopes (none for identity
    scopes); no sub on client credentials."""
    with provider() as sandbox:
        result = login(rp(sandbox), sandbox)
        header, claims = jwt_parts(result.tokens.access_token)
        assert header["typ"] == "at+jwt"
        assert claims["scope"] == ["openid", "profile", "email", "crew.public"]
        assert "aud" not in claims
        assert claims["sub"] == result.identity.subject and claims["rank"] == "Master"
        _, machine = jwt_parts(sandbox.scim_token())
    assert machine["aud"] == "crew-api" and machine["scope"] == ["crew_import"]
    assert "sub" not in machine


def test_api_resources_are_configurable(tmp_path: Any) -> None:
    """api_resources decides which resources a token's scopes name in aud."""
    resources = {"crew-api": ("crew_import",), "reports": ("crew_read", "crew_import")}
    with sandbox_server(api_resources=resources) as sandbox:
        _, claims = jwt_parts(sandbox.scim_token())
    assert claims["aud"] == ["crew-api", "reports"]


def test_password_grant_returns_no_id_token() -> None:
    """The legacy password grant returns tokens but no ID token, as Duende's."""
    with provider() as sandbox:
        tokens = rp(sandbox).password_grant(MASTER, "Dualog-Demo-1", scopes=("openid",))
    assert tokens.access_token and tokens.id_token is None


def test_frontchannel_logout_iframes_for_registered_clients() -> None:
    """A client registered with a front-channel URI gets an iframe (iss, sid) on the
    signed-out page; the page then leads back to the app."""
    front = f"{APP}/auth/oidc/frontchannel-logout"
    with provider(frontchannel_logout_uri=front) as sandbox:
        client = rp(sandbox)
        result = login(client, sandbox)
        sid = result.id_token.claims["sid"]
        url = client.end_session_url(id_token_hint=result.tokens.id_token, state="s-1")
        page = requests.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200
    from html import unescape

    assert f'src="{front}?iss=' in page.text
    frame = unescape(page.text.split('data-testid=frontchannel-logout src="', 1)[1].split('"')[0])
    query = parse_qs(urlsplit(frame).query)
    assert query == {"iss": [sandbox.issuer], "sid": [sid]}
    assert f'href="{APP}/?state=s-1"' in page.text


def test_no_frontchannel_iframe_without_a_uri() -> None:
    """Duende's default: no front-channel URI, no iframe; the redirect is a plain 302."""
    with provider() as sandbox:
        client = rp(sandbox)
        result = login(client, sandbox)
        url = client.end_session_url(id_token_hint=result.tokens.id_token)
        back = requests.get(url, allow_redirects=False, timeout=10)
    assert back.status_code == 302


@pytest.mark.parametrize("enabled", [True, False], ids=["default", "switch-off"])
def test_enable_userinfo_endpoint(enabled: bool) -> None:
    """On (Duende's default): discovery lists userinfo and it answers; off: neither."""
    with sandbox_server(enable_userinfo_endpoint=enabled) as sandbox:
        discovery = requests.get(sandbox.urls["discovery"], timeout=10).json()
        answer = requests.get(sandbox.urls["userinfo"], timeout=10)
    assert ("userinfo_endpoint" in discovery) is enabled
    assert answer.status_code == (401 if enabled else 404)


def test_unknown_refresh_token_is_invalid_grant() -> None:
    """A refresh token the provider never issued is invalid_grant (ProviderResponseError)."""
    with provider(allow_offline_access=True) as sandbox:
        client = rp(sandbox, refresh_tokens=True)
        result = login(client, sandbox)
        with pytest.raises(ProviderResponseError) as exc:
            client.refresh("not-a-refresh-token", previous=result.id_token)
    assert exc.value.error == "invalid_grant"


def test_sandbox_client_switches_are_validated() -> None:
    """An unknown refresh_token_usage is a configuration error."""
    from rpkit.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        OidcClientConfig(client_id="x", client_secret="s", refresh_token_usage="sliding")
