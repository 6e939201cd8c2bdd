"""User claims wherever the provider puts them: the ID token, or userinfo (IdentityServer's
default), with ``rank`` enforced on the merge and no extra request when it is not needed.

Run against the sandbox (the fake Dualog), with one crew member seeded for the purpose and
a client whose ``always_include_user_claims_in_id_token`` each test sets; what a test makes
the provider say differently comes from the sandbox's next-token claims, faults and
request counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from rpkit._http import HttpClient
from rpkit.config import HttpConfig, OidcConfig
from rpkit.errors import ConfigurationError, IdTokenError, ProviderUnavailableError, UserinfoError
from rpkit.oidc import LoginResult, OidcClient
from rpkit.testing import SandboxHandle

from .conftest import (
    BROWSER,
    claims_in_id_token,
    make_client,
    oidc_sandbox,
    sandbox_back_channel,
    sandbox_login,
    sign_in,
)

TOKEN = "token"
USERINFO = "userinfo"

INGRID = "ingrid.hansen@nordic-tankers.example"
# Ingrid's user claims, as the tests assert them: rank, email, name and her ship.
SEED = {
    "default_password": "Dualog-Demo-1",
    "ships": [{"imo": "9074729", "name": "MV Nordic Star"}],
    "groups": [],
    "users": [
        {
            "id": "crew-1001",
            "externalId": "EMP-1001",
            "userName": INGRID,
            "givenName": "Ingrid",
            "familyName": "Hansen",
            "rank": "Chief Officer",
            "department": "Deck",
            "shipImo": "9074729",
            "contractStartDate": "-30d",
            "contractEndDate": "+150d",
            "groups": [],
        }
    ],
}


def _seeded(folder: Path) -> dict[str, Any]:
    seed = folder / "seed.json"
    seed.write_text(json.dumps(SEED), encoding="utf-8")
    return {"data_dir": folder / "data", "seed_file": seed}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with oidc_sandbox(**_seeded(tmp_path_factory.mktemp("user-claims"))) as handle:
        yield handle


@pytest.fixture
def op(provider: SandboxHandle) -> SandboxHandle:
    """The sandbox as each test starts it: seed, clients and counts restored, user claims
    in the ID token (``always_include_user_claims_in_id_token``)."""
    provider.reset()
    claims_in_id_token(provider, True)
    return provider


def login(client: OidcClient, **finish: Any) -> Any:
    return sandbox_login(client, INGRID, **finish)


def userinfo_requests(op: SandboxHandle) -> int:
    return op.request_counts().get(USERINFO, 0)


def _back_channel_requests(op: SandboxHandle, client: OidcClient) -> tuple[int, Any]:
    op.reset_counts()
    result = login(client)
    return sum(sandbox_back_channel(op).values()), result


@pytest.mark.parametrize(
    ("in_id_token", "expected"),
    [(True, {TOKEN: 1}), (False, {TOKEN: 1, USERINFO: 1})],
    ids=["claims-in-id-token", "claims-in-userinfo"],
)
def test_warm_login_costs_one_request_or_two_with_userinfo(
    op: SandboxHandle, in_id_token: bool, expected: dict[str, int]
) -> None:
    """A warm login is one token request; userinfo is added only when the ID token lacks rank."""
    claims_in_id_token(op, in_id_token)
    client = make_client(op)
    _back_channel_requests(op, client)  # cold: discovery and JWKS
    count, result = _back_channel_requests(op, client)
    assert count == sum(expected.values())
    assert sandbox_back_channel(op) == expected
    assert result.identity.rank == "Chief Officer"
    assert result.identity.email == "ingrid.hansen@nordic-tankers.example"
    assert result.identity.name == "Ingrid Hansen"
    assert result.identity.ship_imo == "9074729"
    assert (result.userinfo is None) is in_id_token


@pytest.mark.parametrize(
    ("dropped", "scopes", "fetched"),
    [
        ("email", ("openid", "email", "crew.public"), True),
        ("name", ("openid", "profile", "crew.public"), True),
        ("email", ("openid", "profile", "crew.public"), False),
        ("ship_imo", ("openid", "profile", "email", "crew.public"), False),
    ],
    ids=["email-scope", "profile-scope", "email-not-asked", "crew-claim-optional"],
)
def test_userinfo_is_asked_for_claims_the_scopes_promise(
    op: SandboxHandle, dropped: str, scopes: tuple[str, ...], fetched: bool
) -> None:
    """email (email scope) and name (profile) missing from the ID token fetch userinfo;
    an optional crew claim does not."""
    op.set_next_token_claims({dropped: None})
    client = make_client(op, scopes=scopes)
    result = login(client)
    assert (userinfo_requests(op) == 1) is fetched
    if fetched:
        assert getattr(result.identity, dropped) is not None


def test_rank_missing_everywhere_names_both_places(op: SandboxHandle) -> None:
    """No rank in the ID token nor in userinfo: IdTokenError rank, and no identity."""
    claims_in_id_token(op, False)
    op.set_next_token_claims({"rank": None}, token="userinfo")
    client = make_client(op)
    with pytest.raises(IdTokenError) as exc:
        login(client)
    assert exc.value.reason == "rank"
    assert str(exc.value).startswith('no "rank" claim in the ID token or in userinfo;')
    assert userinfo_requests(op) == 1


def test_empty_rank_in_userinfo_is_refused(op: SandboxHandle) -> None:
    """A blank rank from userinfo is no rank."""
    claims_in_id_token(op, False)
    op.set_next_token_claims({"rank": "  "}, token="userinfo")
    with pytest.raises(IdTokenError) as exc:
        login(make_client(op))
    assert exc.value.reason == "rank"


def test_rank_missing_and_no_userinfo_endpoint(tmp_path: Path) -> None:
    """Without a userinfo endpoint the rank error says where it looked."""
    with oidc_sandbox(**_seeded(tmp_path), enable_userinfo_endpoint=False) as op:
        with pytest.raises(IdTokenError) as exc:
            login(make_client(op))
        assert exc.value.reason == "rank"
        assert "no userinfo_endpoint" in str(exc.value)
        assert userinfo_requests(op) == 0


def test_rank_missing_with_userinfo_turned_off(op: SandboxHandle) -> None:
    """fetch_userinfo=False never calls userinfo, so the ID token alone must carry rank."""
    claims_in_id_token(op, False)
    client = make_client(op)
    with pytest.raises(IdTokenError) as exc:
        login(client, fetch_userinfo=False)
    assert exc.value.reason == "rank"
    assert "userinfo was not asked" in str(exc.value)
    assert userinfo_requests(op) == 0


def test_allow_missing_rank_skips_userinfo_when_the_rest_is_there(op: SandboxHandle) -> None:
    """A non-Dualog provider without rank: no userinfo call when email and name are present."""
    op.set_next_token_claims({"rank": None})
    op.set_next_token_claims({"rank": None}, token="userinfo")
    result = login(make_client(op, allow_missing_rank=True))
    assert result.identity.rank is None
    assert userinfo_requests(op) == 0


@pytest.mark.parametrize(
    ("userinfo", "error", "reason"),
    [
        ({"sub": "crew-6666"}, UserinfoError, "sub_mismatch"),
        ({"sub": None}, UserinfoError, "sub_mismatch"),
        ({"sub": 1001}, UserinfoError, "sub_mismatch"),
    ],
    ids=["other-sub", "no-sub", "numeric-sub"],
)
def test_hostile_userinfo_is_refused(
    op: SandboxHandle, userinfo: dict[str, Any], error: type[Exception], reason: str
) -> None:
    """Userinfo for another user (or none) is refused before any claim is used."""
    claims_in_id_token(op, False)
    op.set_next_token_claims(userinfo, token="userinfo")
    with pytest.raises(UserinfoError) as exc:
        login(make_client(op))
    assert exc.value.reason == reason


def test_userinfo_cannot_change_what_the_id_token_says(op: SandboxHandle) -> None:
    """Where both have a value, the signed ID token wins (a rank from userinfo cannot escalate)."""
    op.set_next_token_claims({"rank": "Master", "email": "attacker@example.com"}, token="userinfo")
    client = make_client(op)
    result = login(client, fetch_userinfo=True)
    assert result.identity.rank == "Chief Officer"
    assert result.identity.email == "ingrid.hansen@nordic-tankers.example"


def test_userinfo_refusing_the_token_fails_the_login(op: SandboxHandle) -> None:
    """An error from userinfo fails the login: no identity without the claims it needs."""
    claims_in_id_token(op, False)
    op.set_fault(USERINFO, "error", status=500)
    with pytest.raises(ProviderUnavailableError):
        login(make_client(op))


def _recording_http(seen: list[str]) -> HttpClient:
    """rpkit's HTTP client on a session that notes the Authorization header of each
    userinfo request (a requests response hook: the wire, not rpkit's internals)."""
    session = requests.Session()

    def note(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if urlsplit(response.request.url or "").path.endswith("/connect/userinfo"):
            seen.append(str(response.request.headers.get("Authorization", "")))

    session.hooks["response"].append(note)
    return HttpClient(HttpConfig(), session)


def _refresh_setup(
    op: SandboxHandle, http: HttpClient | None = None
) -> tuple[OidcClient, LoginResult]:
    client = make_client(op, http_client=http, refresh_tokens=True)
    result = login(client)
    assert result.tokens.refresh_token
    return client, result


@pytest.mark.parametrize(
    ("in_id_token", "expected_userinfo_calls"),
    [(True, 0), (False, 1)],
    ids=["claims-in-id-token", "claims-in-userinfo"],
)
def test_refresh_reads_claims_like_login(
    op: SandboxHandle, in_id_token: bool, expected_userinfo_calls: int
) -> None:
    """A refresh whose ID token lacks rank reads it from userinfo with the new access token."""
    claims_in_id_token(op, in_id_token)
    authorizations: list[str] = []
    client, result = _refresh_setup(op, _recording_http(authorizations))
    op.reset_counts()
    op.set_next_token_claims({"rank": "Master"}, token="userinfo")  # promoted since the login
    assert result.tokens.refresh_token is not None
    refreshed = client.refresh(result.tokens.refresh_token, previous=result.id_token)
    assert userinfo_requests(op) == expected_userinfo_calls
    assert refreshed.identity.rank == ("Chief Officer" if in_id_token else "Master")
    if not in_id_token:
        assert authorizations[-1] == f"Bearer {refreshed.tokens.access_token}"


def test_refresh_with_userinfo_for_another_user_is_refused(op: SandboxHandle) -> None:
    """The refresh's userinfo must name the same sub too."""
    claims_in_id_token(op, False)
    client, result = _refresh_setup(op)
    op.set_next_token_claims({"sub": "crew-6666"}, token="userinfo")
    assert result.tokens.refresh_token is not None
    with pytest.raises(UserinfoError) as exc:
        client.refresh(result.tokens.refresh_token, previous=result.id_token)
    assert exc.value.reason == "sub_mismatch"


# -- scopes and response mode -------------------------------------------------------------


def _scope(client: OidcClient) -> list[str]:
    url = client.start_login(browser_token=BROWSER).url
    return parse_qs(urlsplit(url).query)["scope"][0].split()


def test_default_scopes_leave_out_offline_access(op: SandboxHandle) -> None:
    """IdentityServer refuses offline_access unless the client allows it: not asked by default."""
    assert _scope(make_client(op)) == ["openid", "profile", "email", "crew.public"]


def test_refresh_tokens_asks_for_offline_access(op: SandboxHandle) -> None:
    """refresh_tokens=True adds offline_access, once."""
    assert _scope(make_client(op, refresh_tokens=True))[-1] == "offline_access"
    scopes = ("openid", "offline_access", "crew.public")
    assert _scope(make_client(op, scopes=scopes, refresh_tokens=True)) == list(scopes)


def test_scopes_and_response_mode_from_the_environment() -> None:
    """RPKIT_OIDC_SCOPES, RPKIT_OIDC_REFRESH_TOKENS and RPKIT_OIDC_RESPONSE_MODE are read."""
    config = OidcConfig.from_env(
        {
            "RPKIT_OIDC_CLIENT_ID": "app",
            "RPKIT_OIDC_SCOPES": "openid crew.public",
            "RPKIT_OIDC_REFRESH_TOKENS": "true",
            "RPKIT_OIDC_RESPONSE_MODE": "form_post",
        }
    )
    assert config.requested_scopes == ("openid", "crew.public", "offline_access")
    assert config.response_mode == "form_post"


@pytest.mark.parametrize("mode", ["fragment", "FORM_POST", ""])
def test_unknown_response_mode_is_a_configuration_error(mode: str) -> None:
    """Only query and form_post are supported; anything else fails at start."""
    with pytest.raises(ConfigurationError):
        OidcConfig.from_env({"RPKIT_OIDC_CLIENT_ID": "app", "RPKIT_OIDC_RESPONSE_MODE": mode})


def test_configured_form_post_is_used_and_enforced(op: SandboxHandle) -> None:
    """response_mode=form_post in the config is sent, and a query callback is refused."""
    client = make_client(op, response_mode="form_post")
    started = client.start_login(browser_token=BROWSER)
    url, login_state = started.url, started.login
    assert parse_qs(urlsplit(url).query)["response_mode"] == ["form_post"]
    assert login_state.response_mode == "form_post"
    params = sign_in(url, INGRID)
    result = client.finish_login(params, received_via="form_post", browser_token=BROWSER)
    assert result.identity.rank == "Chief Officer"
