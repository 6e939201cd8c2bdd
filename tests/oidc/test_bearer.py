"""Bearer JWT access tokens for APIs, from the configured and the accepted issuers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from rpkit.config import OidcConfig
from rpkit.errors import ConfigurationError, TokenError

from .conftest import login, make_client
from .fake_op import FakeOP, new_rsa_key, sign_jwt


@pytest.fixture
def ship_op() -> Iterator[FakeOP]:
    server = FakeOP(keys=[new_rsa_key("ship-1")]).start()
    yield server
    server.stop()


def access_token(op: FakeOP, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": op.issuer,
        "sub": "crew-1001",
        "aud": "crew-api",
        "client_id": "bridge-app",
        "scope": "openid crew_read",
        "iat": now,
        "exp": now + 300,
    }
    header = overrides.pop("_header", {"typ": "at+jwt"})
    key = overrides.pop("_key", op.keys[0])
    claims.update(overrides)
    return sign_jwt({k: v for k, v in claims.items() if v is not None}, key, header=header)


def test_token_from_configured_issuer_is_accepted(op: FakeOP) -> None:
    client = make_client(op, access_token_audience=("crew-api",))
    token = client.validate_access_token(access_token(op), required_scopes=("crew_read",))
    assert token.subject == "crew-1001"
    assert token.scopes == ("openid", "crew_read")


def test_token_from_an_accepted_ship_issuer_is_accepted(op: FakeOP, ship_op: FakeOP) -> None:
    client = make_client(op, access_token_audience="crew-api", accepted_issuers=(ship_op.issuer,))
    assert client.validate_access_token(access_token(ship_op)).issuer == ship_op.issuer


def test_token_from_an_unlisted_issuer_is_refused(op: FakeOP, ship_op: FakeOP) -> None:
    client = make_client(op, access_token_audience=("crew-api",))
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(access_token(ship_op))
    assert exc.value.reason == "issuer"
    assert ship_op.counts == {}  # never fetched keys for an issuer we do not trust


def test_ship_token_claiming_cloud_issuer_but_signed_by_ship_key_is_refused(
    op: FakeOP, ship_op: FakeOP
) -> None:
    client = make_client(op, access_token_audience="crew-api", accepted_issuers=(ship_op.issuer,))
    forged = access_token(op, _key=ship_op.keys[0])
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(forged)
    assert exc.value.reason == "unknown_kid"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "other-api"}, "audience"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": None}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not_yet_valid"),
        ({"scope": "openid"}, "scope"),
        ({"aud": ["other-api", "billing-api"]}, "audience"),
        ({"aud": None}, "audience"),
        ({"aud": {"crew-api": True}}, "audience"),
        ({"aud": ["crew-api", 5]}, "audience"),
        ({"nonce": "abc"}, "typ"),
        ({"_header": {"typ": "logout+jwt"}}, "typ"),
        ({"_header": {"typ": None}}, "typ"),
        ({"_header": {"typ": "JWT"}}, "typ"),
        ({"_header": {"typ": "id_token+jwt"}}, "typ"),
        ({"scope": 5}, "malformed"),
        ({"scope": ["crew_read", 5]}, "malformed"),
        ({"scope": {"crew_read": True}}, "malformed"),
    ],
    ids=[
        "wrong_aud",
        "expired",
        "no_exp",
        "nbf_future",
        "missing_scope",
        "wrong_aud_list",
        "no_aud",
        "aud_object",
        "aud_list_with_number",
        "id_token",
        "logout_token",
        "untyped",
        "typ_jwt",
        "typ_other",
        "scope_number",
        "scope_array_with_number",
        "scope_object",
    ],
)
def test_bad_access_tokens_are_refused(op: FakeOP, overrides: dict[str, Any], reason: str) -> None:
    client = make_client(op, access_token_audience=("crew-api",))
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(access_token(op, **overrides), required_scopes=("crew_read",))
    assert exc.value.reason == reason


def test_unsigned_access_token_is_refused(op: FakeOP) -> None:
    client = make_client(op, access_token_audience=("crew-api",))
    unsigned = sign_jwt({"iss": op.issuer, "aud": "crew-api", "exp": 2**31}, None, alg="none")
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(unsigned)
    assert exc.value.reason == "alg"


def test_garbage_is_refused_as_malformed(op: FakeOP) -> None:
    with pytest.raises(TokenError) as exc:
        make_client(op, allow_any_audience=True).validate_access_token("not-a-jwt")
    assert exc.value.reason == "malformed"


def test_without_an_audience_or_client_list_nothing_is_accepted(op: FakeOP) -> None:
    """No audience and no client list: validation refuses to run and names both settings."""
    client = make_client(op)
    with pytest.raises(ConfigurationError) as exc:
        client.validate_access_token(access_token(op))
    for name in ("RPKIT_OIDC_ACCESS_TOKEN_AUDIENCE", "RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS"):
        assert name in exc.value.message
    assert op.counts == {}  # refused before any network call


def test_allow_any_audience_accepts_a_token_for_another_api(op: FakeOP) -> None:
    """The named opt-out accepts any audience; every other rule still applies."""
    client = make_client(op, allow_any_audience=True)
    assert client.validate_access_token(access_token(op, aud="other-api")).subject == "crew-1001"
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(access_token(op, _header={"typ": None}))
    assert exc.value.reason == "typ"


@pytest.mark.parametrize(
    ("aud", "client_id", "config", "accepted"),
    [
        (["billing-api", "crew-api"], "x", {"access_token_audience": ("crew-api",)}, True),
        ("ship-api", "x", {"access_token_audience": ("crew-api", "ship-api")}, True),
        (None, "bridge-app", {"access_token_client_ids": ("bridge-app",)}, True),
        ("other-api", "bridge-app", {"access_token_client_ids": ("bridge-app",)}, True),
        ("other-api", "intruder", {"access_token_client_ids": ("bridge-app",)}, False),
        (None, None, {"access_token_client_ids": ("bridge-app",)}, False),
        (
            "other-api",
            "bridge-app",
            {"access_token_audience": ("crew-api",), "access_token_client_ids": ("bridge-app",)},
            True,
        ),
        (
            "other-api",
            "intruder",
            {"access_token_audience": ("crew-api",), "access_token_client_ids": ("bridge-app",)},
            False,
        ),
    ],
    ids=[
        "aud_list_contains_ours",
        "second_configured_audience",
        "no_aud_allowed_client",
        "other_aud_allowed_client",
        "other_aud_other_client",
        "no_aud_no_client",
        "both_set_client_matches",
        "both_set_neither_matches",
    ],
)
def test_audience_or_client_id(
    op: FakeOP, aud: Any, client_id: Any, config: dict[str, Any], accepted: bool
) -> None:
    """A token passes when its aud names a configured audience or its client_id is allowed."""
    client = make_client(op, **config)
    token = access_token(op, aud=aud, client_id=client_id)
    if accepted:
        assert client.validate_access_token(token).issuer == op.issuer
        return
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(token)
    assert exc.value.reason == "audience"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
def test_access_token_types_are_accepted(op: FakeOP, typ: str) -> None:
    """RFC 9068 typ, compared case-insensitively, with or without the application/ prefix."""
    client = make_client(op, access_token_audience=("crew-api",))
    assert client.validate_access_token(access_token(op, _header={"typ": typ})).subject


@pytest.mark.parametrize(
    ("typ", "reason"),
    [(None, None), ("JWT", None), ("logout+jwt", "typ"), ("secevent+jwt", "typ")],
    ids=["untyped", "typ_jwt", "logout_token", "other_type"],
)
def test_allow_untyped_access_tokens(op: FakeOP, typ: str | None, reason: str | None) -> None:
    """The opt-in accepts untyped and JWT-typed tokens, never another explicit type."""
    client = make_client(op, access_token_audience=("crew-api",), allow_untyped_access_tokens=True)
    token = access_token(op, _header={"typ": typ})
    if reason is None:
        assert client.validate_access_token(token).subject == "crew-1001"
        return
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(token)
    assert exc.value.reason == reason


def test_scope_as_a_json_array(op: FakeOP) -> None:
    """IdentityServer sends scope as a JSON array; required scopes are found in it."""
    client = make_client(op, access_token_audience=("crew-api",))
    token = access_token(op, scope=["openid", "crew_read"])
    assert client.validate_access_token(token, required_scopes=("crew_read",)).scopes == (
        "openid",
        "crew_read",
    )


@pytest.mark.parametrize("untyped", [False, True], ids=["strict", "allow_untyped"])
def test_an_id_token_from_a_real_login_is_not_an_access_token(op: FakeOP, untyped: bool) -> None:
    """A real ID token (typ JWT, aud = client) is refused by the API, even with untyped allowed."""
    from .fake_op import CLIENT_ID

    login(make_client(op))
    id_token = op.issued_id_tokens[-1]
    client = make_client(
        op, access_token_client_ids=(CLIENT_ID,), allow_untyped_access_tokens=untyped
    )
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(id_token)
    assert exc.value.reason == "typ"


def test_refreshed_id_token_without_nonce_is_not_an_access_token(op: FakeOP) -> None:
    """An ID token without nonce (as issued on refresh) is refused by its type."""
    from .fake_op import CLIENT_ID

    client = make_client(op, access_token_audience=(CLIENT_ID,))
    token = access_token(op, aud=CLIENT_ID, _header={"typ": "JWT"})
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(token)
    assert exc.value.reason == "typ"


def test_audiences_from_the_environment() -> None:
    """RPKIT_OIDC_ACCESS_TOKEN_AUDIENCE and _CLIENT_IDS take several values."""
    config = OidcConfig.from_env(
        {
            "RPKIT_OIDC_CLIENT_ID": "app",
            "RPKIT_OIDC_ACCESS_TOKEN_AUDIENCE": "crew-api, ship-api",
            "RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS": "bridge-app",
            "RPKIT_OIDC_ALLOW_UNTYPED_ACCESS_TOKENS": "true",
        }
    )
    assert config.access_token_audience == ("crew-api", "ship-api")
    assert config.access_token_client_ids == ("bridge-app",)
    assert config.allow_untyped_access_tokens and not config.allow_any_audience
    assert OidcConfig.cloud(client_id="a", access_token_audience="one").access_token_audience == (
        "one",
    )
