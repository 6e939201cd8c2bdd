"""User claims wherever the provider puts them: the ID token, or userinfo (IdentityServer's
default), with ``rank`` enforced on the merge and no extra request when it is not needed."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rpkit.config import OidcConfig
from rpkit.errors import ConfigurationError, IdTokenError, ProviderUnavailableError, UserinfoError
from rpkit.oidc import LoginResult, OidcClient

from .conftest import BROWSER, follow_authorize, login, make_client
from .fake_op import FakeOP

TOKEN = "/auth/connect/token"
USERINFO = "/auth/connect/userinfo"
FRONT_CHANNEL = "/auth/connect/authorize"


def _back_channel_requests(op: FakeOP, client: OidcClient, **finish: Any) -> tuple[int, Any]:
    op.counts.clear()
    url = client.start_login(browser_token=BROWSER).url
    result = client.finish_login(follow_authorize(url), **finish, browser_token=BROWSER)
    return sum(n for path, n in op.counts.items() if path != FRONT_CHANNEL), result


@pytest.mark.parametrize(
    ("in_id_token", "expected"),
    [(True, {TOKEN: 1}), (False, {TOKEN: 1, USERINFO: 1})],
    ids=["claims-in-id-token", "claims-in-userinfo"],
)
def test_warm_login_costs_one_request_or_two_with_userinfo(
    op: FakeOP, in_id_token: bool, expected: dict[str, int]
) -> None:
    """A warm login is one token request; userinfo is added only when the ID token lacks rank."""
    op.user_claims_in_id_token = in_id_token
    client = make_client(op)
    _back_channel_requests(op, client)  # cold: discovery and JWKS
    count, result = _back_channel_requests(op, client)
    assert count == sum(expected.values())
    assert {p: n for p, n in op.counts.items() if p != FRONT_CHANNEL} == expected
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
    op: FakeOP, dropped: str, scopes: tuple[str, ...], fetched: bool
) -> None:
    """email (email scope) and name (profile) missing from the ID token fetch userinfo;
    an optional crew claim does not."""
    op.id_token_claims[dropped] = None
    client = make_client(op, scopes=scopes)
    result = login(client)
    assert (len(op.userinfo_requests) == 1) is fetched
    if fetched:
        assert getattr(result.identity, dropped) is not None


def test_rank_missing_everywhere_names_both_places(op: FakeOP) -> None:
    """No rank in the ID token nor in userinfo: IdTokenError rank, and no identity."""
    op.user_claims_in_id_token = False
    op.userinfo_claims["rank"] = None
    client = make_client(op)
    with pytest.raises(IdTokenError) as exc:
        login(client)
    assert exc.value.reason == "rank"
    assert str(exc.value).startswith('no "rank" claim in the ID token or in userinfo;')
    assert len(op.userinfo_requests) == 1


def test_empty_rank_in_userinfo_is_refused(op: FakeOP) -> None:
    """A blank rank from userinfo is no rank."""
    op.user_claims_in_id_token = False
    op.userinfo_claims["rank"] = "  "
    with pytest.raises(IdTokenError) as exc:
        login(make_client(op))
    assert exc.value.reason == "rank"


def test_rank_missing_and_no_userinfo_endpoint(op: FakeOP) -> None:
    """Without a userinfo endpoint the rank error says where it looked."""
    op.user_claims_in_id_token = False
    op.discovery_overrides["userinfo_endpoint"] = None
    with pytest.raises(IdTokenError) as exc:
        login(make_client(op))
    assert exc.value.reason == "rank"
    assert "no userinfo_endpoint" in str(exc.value)
    assert op.userinfo_requests == []


def test_rank_missing_with_userinfo_turned_off(op: FakeOP) -> None:
    """fetch_userinfo=False never calls userinfo, so the ID token alone must carry rank."""
    op.user_claims_in_id_token = False
    client = make_client(op)
    url = client.start_login(browser_token=BROWSER).url
    with pytest.raises(IdTokenError) as exc:
        client.finish_login(follow_authorize(url), fetch_userinfo=False, browser_token=BROWSER)
    assert exc.value.reason == "rank"
    assert "userinfo was not asked" in str(exc.value)
    assert op.userinfo_requests == []


def test_allow_missing_rank_skips_userinfo_when_the_rest_is_there(op: FakeOP) -> None:
    """A non-Dualog provider without rank: no userinfo call when email and name are present."""
    op.id_token_claims["rank"] = None
    op.userinfo_claims["rank"] = None
    result = login(make_client(op, allow_missing_rank=True))
    assert result.identity.rank is None
    assert op.userinfo_requests == []


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
    op: FakeOP, userinfo: dict[str, Any], error: type[Exception], reason: str
) -> None:
    """Userinfo for another user (or none) is refused before any claim is used."""
    op.user_claims_in_id_token = False
    op.userinfo_claims.update(userinfo)
    with pytest.raises(UserinfoError) as exc:
        login(make_client(op))
    assert exc.value.reason == reason


def test_userinfo_cannot_change_what_the_id_token_says(op: FakeOP) -> None:
    """Where both have a value, the signed ID token wins (a rank from userinfo cannot escalate)."""
    op.userinfo_claims.update(rank="Master", email="attacker@example.com")
    client = make_client(op)
    url = client.start_login(browser_token=BROWSER).url
    result = client.finish_login(follow_authorize(url), fetch_userinfo=True, browser_token=BROWSER)
    assert result.identity.rank == "Chief Officer"
    assert result.identity.email == "ingrid.hansen@nordic-tankers.example"


def test_userinfo_refusing_the_token_fails_the_login(op: FakeOP) -> None:
    """An error from userinfo fails the login: no identity without the claims it needs."""
    op.user_claims_in_id_token = False
    op.fail.add(USERINFO)
    with pytest.raises(ProviderUnavailableError):
        login(make_client(op))


def _refresh_setup(op: FakeOP) -> tuple[OidcClient, LoginResult]:
    client = make_client(op, refresh_tokens=True)
    result = login(client)
    assert result.tokens.refresh_token
    return client, result


@pytest.mark.parametrize(
    ("in_id_token", "expected_userinfo_calls"),
    [(True, 0), (False, 1)],
    ids=["claims-in-id-token", "claims-in-userinfo"],
)
def test_refresh_reads_claims_like_login(
    op: FakeOP, in_id_token: bool, expected_userinfo_calls: int
) -> None:
    """A refresh whose ID token lacks rank reads it from userinfo with the new access token."""
    op.user_claims_in_id_token = in_id_token
    client, result = _refresh_setup(op)
    op.userinfo_requests.clear()
    op.userinfo_claims["rank"] = "Master"  # promoted since the login
    assert result.tokens.refresh_token is not None
    refreshed = client.refresh(result.tokens.refresh_token, previous=result.id_token)
    assert len(op.userinfo_requests) == expected_userinfo_calls
    assert refreshed.identity.rank == ("Chief Officer" if in_id_token else "Master")
    if not in_id_token:
        assert op.userinfo_requests[-1]["auth"] == f"Bearer {refreshed.tokens.access_token}"


def test_refresh_with_userinfo_for_another_user_is_refused(op: FakeOP) -> None:
    """The refresh's userinfo must name the same sub too."""
    op.user_claims_in_id_token = False
    client, result = _refresh_setup(op)
    op.userinfo_claims["sub"] = "crew-6666"
    assert result.tokens.refresh_token is not None
    with pytest.raises(UserinfoError) as exc:
        client.refresh(result.tokens.refresh_token, previous=result.id_token)
    assert exc.value.reason == "sub_mismatch"


# -- scopes and response mode -------------------------------------------------------------


def _scope(client: OidcClient) -> list[str]:
    url = client.start_login(browser_token=BROWSER).url
    return parse_qs(urlsplit(url).query)["scope"][0].split()


def test_default_scopes_leave_out_offline_access(op: FakeOP) -> None:
    """IdentityServer refuses offline_access unless the client allows it: not asked by default."""
    assert _scope(make_client(op)) == ["openid", "profile", "email", "crew.public"]


def test_refresh_tokens_asks_for_offline_access(op: FakeOP) -> None:
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


def test_configured_form_post_is_used_and_enforced(op: FakeOP) -> None:
    """response_mode=form_post in the config is sent, and a query callback is refused."""
    client = make_client(op, response_mode="form_post")
    started = client.start_login(browser_token=BROWSER)
    url, login_state = started.url, started.login
    assert parse_qs(urlsplit(url).query)["response_mode"] == ["form_post"]
    assert login_state.response_mode == "form_post"
    params = follow_authorize(url)
    result = client.finish_login(params, received_via="form_post", browser_token=BROWSER)
    assert result.identity.rank == "Chief Officer"
