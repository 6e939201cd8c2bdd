"""Bearer JWT access tokens for APIs, from the configured and the accepted issuers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from rpkit.errors import TokenError

from .conftest import make_client
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
    client = make_client(op, access_token_audience="crew-api")
    token = client.validate_access_token(access_token(op), required_scopes=("crew_read",))
    assert token.subject == "crew-1001"
    assert token.scopes == ("openid", "crew_read")


def test_token_from_an_accepted_ship_issuer_is_accepted(op: FakeOP, ship_op: FakeOP) -> None:
    client = make_client(op, access_token_audience="crew-api", accepted_issuers=(ship_op.issuer,))
    assert client.validate_access_token(access_token(ship_op)).issuer == ship_op.issuer


def test_token_from_an_unlisted_issuer_is_refused(op: FakeOP, ship_op: FakeOP) -> None:
    client = make_client(op, access_token_audience="crew-api")
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
        ({"nonce": "abc"}, "typ"),
        ({"_header": {"typ": "logout+jwt"}}, "typ"),
    ],
    ids=[
        "wrong_aud",
        "expired",
        "no_exp",
        "nbf_future",
        "missing_scope",
        "id_token",
        "logout_token",
    ],
)
def test_bad_access_tokens_are_refused(op: FakeOP, overrides: dict[str, Any], reason: str) -> None:
    client = make_client(op, access_token_audience="crew-api")
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(access_token(op, **overrides), required_scopes=("crew_read",))
    assert exc.value.reason == reason


def test_unsigned_access_token_is_refused(op: FakeOP) -> None:
    client = make_client(op, access_token_audience="crew-api")
    unsigned = sign_jwt({"iss": op.issuer, "aud": "crew-api", "exp": 2**31}, None, alg="none")
    with pytest.raises(TokenError) as exc:
        client.validate_access_token(unsigned)
    assert exc.value.reason == "alg"


def test_garbage_is_refused_as_malformed(op: FakeOP) -> None:
    with pytest.raises(TokenError) as exc:
        make_client(op).validate_access_token("not-a-jwt")
    assert exc.value.reason == "malformed"
