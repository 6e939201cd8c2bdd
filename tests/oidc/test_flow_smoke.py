"""The happy path end to end against the loopback OP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from rpkit.errors import CallbackError

from .conftest import follow_authorize, login, make_client
from .fake_op import FakeOP


def test_code_flow_yields_identity_with_rank(op: FakeOP) -> None:
    client = make_client(op)
    result = login(client)
    assert result.identity.rank == "Chief Officer"
    assert result.identity.key == (op.issuer, "crew-1001")
    assert result.identity.ship_imo == "9074729"


def test_authorize_request_always_uses_pkce_s256_and_default_scopes(op: FakeOP) -> None:
    url, state = make_client(op).start_login()
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["openid profile email crew.public"]
    assert query["nonce"] == [state.nonce]


def test_replayed_callback_is_refused(op: FakeOP) -> None:
    client = make_client(op)
    url, _ = client.start_login()
    params = follow_authorize(url)
    client.finish_login(params)
    with pytest.raises(CallbackError) as exc:
        client.finish_login(params)
    assert exc.value.reason == "state_unknown"


def test_callback_in_another_response_mode_is_refused(op: FakeOP) -> None:
    client = make_client(op)
    url, _ = client.start_login(response_mode="form_post")
    params = follow_authorize(url)
    with pytest.raises(CallbackError) as exc:
        client.finish_login(params, received_via="query")
    assert exc.value.reason == "response_mode"


def test_callback_in_the_requested_response_mode_is_accepted(op: FakeOP) -> None:
    client = make_client(op)
    url, _ = client.start_login(response_mode="form_post")
    result = client.finish_login(follow_authorize(url), received_via="form_post")
    assert result.identity.rank == "Chief Officer"
