"""Ship resilience, counted in HTTP requests: outages, restarts at sea, rotations and floods."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from rpkit.config import OidcConfig
from rpkit.errors import IdTokenError, ProviderUnavailableError
from rpkit.oidc import IdToken, OidcClient
from rpkit.testing import SandboxHandle

from .conftest import (
    BROWSER,
    Clock,
    claims_in_id_token,
    login,
    make_client,
    sandbox_back_channel,
    sandbox_login,
)
from .fake_op import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, FakeOP, Grant, new_rsa_key, sign_jwt

DISCOVERY = "/auth/.well-known/openid-configuration"
TOKEN = "/auth/connect/token"
TOMAS, TOMAS_ID = "tomas.berg@nordic-aurora.example", "87235"  # in the sandbox's seed
AUTHORIZE = "/auth/connect/authorize"


def mint_id_token(op: FakeOP, nonce: str) -> str:
    """An ID token from ``op`` for ``nonce``, as its token endpoint would issue it."""
    grant = Grant(CLIENT_ID, REDIRECT_URI, nonce, None, "openid", op.sub)
    return op.id_token(grant, "unused-access-token", extra={})


def validate(client: OidcClient, token: str, nonce: str) -> IdToken:
    return client.validate_id_token(token, expected=client.expected_id_token(nonce=nonce))


def back_channel(op: FakeOP) -> Counter[str]:
    """Requests the relying party made (the authorize endpoint is the browser's)."""
    counts = Counter(op.counts)
    del counts[AUTHORIZE]
    return counts


# -- provider down ---------------------------------------------------------------------------


@pytest.fixture
def refused_port() -> Iterator[socket.socket]:
    """A loopback port that refuses connections: bound, not listening, held by the test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_provider_down_at_start_then_up(refused_port: socket.socket) -> None:
    """An app starts while the provider is down, fails the login cleanly, recovers once it is up."""
    port = refused_port.getsockname()[1]
    config = OidcConfig(
        issuer=f"http://127.0.0.1:{port}/auth",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
    )
    client = OidcClient(config)  # no request, no exception
    with pytest.raises(ProviderUnavailableError):
        client.start_login(browser_token=BROWSER)
    with pytest.raises(ProviderUnavailableError):
        client.metadata()

    op = FakeOP().start(sock=refused_port)
    try:
        assert op.issuer == config.issuer
        OidcClient(config)
        assert back_channel(op) == Counter()
        result = login(client)
        assert result.identity.subject == op.sub
        assert back_channel(op) == Counter({DISCOVERY: 1, op.jwks_path: 1, TOKEN: 1})
    finally:
        op.stop()


# -- JWKS outage after warm-up ------------------------------------------------------------------


def test_jwks_failing_after_warm_up_keeps_validating_with_cached_keys(
    sandbox: SandboxHandle,
) -> None:
    """Within the JWKS TTL an outage costs nothing: cached keys validate, no JWKS request."""
    client = make_client(sandbox)
    sandbox_login(client, TOMAS)
    sandbox.set_fault("jwks", "error", status=500)
    for _ in range(3):
        assert sandbox_login(client, TOMAS).identity.subject == TOMAS_ID
    assert sandbox.request_counts()["jwks"] == 1


@pytest.mark.parametrize("failure", ["http_500", "empty_key_set"])
def test_jwks_failing_after_ttl_uses_last_known_good_keys(
    op: FakeOP, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    """Past the TTL a failed or unusable JWKS fetch falls back to the last-known-good keys."""
    client = make_client(op, jwks_ttl=timedelta(0))  # every validation wants fresh keys
    login(client)
    assert op.counts[op.jwks_path] == 1
    if failure == "http_500":
        op.fail.add("jwks")
    else:
        op.published = []  # a broken deployment publishing {"keys": []}
    with caplog.at_level(logging.WARNING, logger="rpkit.oidc"):
        assert login(client).identity.subject == op.sub
    assert op.counts[op.jwks_path] == 2  # one failed attempt, then the fallback
    assert "last-known-good" in caplog.text


def test_new_kid_during_a_jwks_outage_is_rejected_cleanly(op: FakeOP) -> None:
    """A rotated key cannot be fetched while the JWKS is down: unknown_kid, not a crash."""
    client = make_client(op)
    login(client)
    op.fail.add("jwks")
    op.keys = [new_rsa_key("k2")]
    with pytest.raises(IdTokenError) as exc:
        validate(client, mint_id_token(op, "n-outage"), "n-outage")
    assert exc.value.reason == "unknown_kid"
    assert op.counts[op.jwks_path] == 2


# -- restart at sea ------------------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["http_500", "stopped"])
def test_restart_with_only_the_disk_cache(op: FakeOP, tmp_path: Any, outage: str) -> None:
    """A new client on the same cache_dir discovers and validates from disk, OP down."""
    cache_dir = str(tmp_path / "rpkit-cache")
    login(make_client(op, cache_dir=cache_dir))
    token = mint_id_token(op, "n-restart")
    if outage == "http_500":
        op.fail.update({"openid-configuration", "jwks"})
    else:
        op.stop(hold_port=True)

    restarted = make_client(op, cache_dir=cache_dir)
    assert restarted.metadata().token_endpoint == f"{op.issuer}/connect/token"
    assert validate(restarted, token, "n-restart").subject == op.sub
    if outage == "http_500":
        # One failed attempt each, then the disk copy; no retry storm.
        assert op.counts[DISCOVERY] == 2
        assert op.counts[op.jwks_path] == 2

    later = time.time() + 2 * 3600
    too_old = make_client(
        op, cache_dir=cache_dir, cache_max_age=timedelta(hours=1), clock=lambda: later
    )
    with pytest.raises(ProviderUnavailableError):
        too_old.metadata()
    with pytest.raises(ProviderUnavailableError):
        validate(too_old, token, "n-restart")


# -- rotation, floods, single-flight ------------------------------------------------------------


def test_key_rotation_costs_exactly_one_extra_jwks_fetch(op: FakeOP) -> None:
    """After the provider rotates its key, one refetch serves every later login."""
    client = make_client(op)
    login(client)
    op.keys = [new_rsa_key("k2")]
    for _ in range(3):
        assert login(client).id_token.header["kid"] == "k2"
    assert op.counts[op.jwks_path] == 2
    assert op.counts[DISCOVERY] == 1


def test_unknown_kid_flood_causes_at_most_one_refetch(op: FakeOP) -> None:
    """50 tokens naming random kids cost one JWKS refetch within the cool-down, not 50."""
    client = make_client(op)
    login(client)
    rogue = new_rsa_key(None)
    for _ in range(50):
        token = sign_jwt(
            {"iss": op.issuer, "sub": "x", "aud": CLIENT_ID, "nonce": "n"},
            rogue,
            header={"kid": secrets.token_hex(8)},
        )
        with pytest.raises(IdTokenError) as exc:
            validate(client, token, "n")
        assert exc.value.reason == "unknown_kid"
    assert op.counts[op.jwks_path] == 2
    assert login(client).identity.subject == op.sub  # the real key still validates


def test_concurrent_unknown_kid_shares_one_jwks_fetch(op: FakeOP) -> None:
    """Eight threads meeting a rotated key at once cause a single JWKS fetch."""
    client = make_client(op)
    login(client)
    op.keys = [new_rsa_key("k2")]
    token = mint_id_token(op, "n-flight")
    op.jwks_requested.clear()
    op.jwks_gate = threading.Event()
    start = threading.Barrier(8)
    results: list[IdToken] = []

    def worker() -> None:
        start.wait(5)
        results.append(validate(client, token, "n-flight"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert op.jwks_requested.wait(5)
    op.jwks_gate.set()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8
    assert all(r.header["kid"] == "k2" for r in results)
    assert op.counts[op.jwks_path] == 2


# -- cost of a login ------------------------------------------------------------------------------


def test_warm_login_costs_one_back_channel_request(sandbox: SandboxHandle) -> None:
    """With discovery and keys cached, a login is one token request (plus userinfo if asked)."""
    claims_in_id_token(sandbox, True)
    client = make_client(sandbox)
    sandbox_login(client, TOMAS)
    before = sandbox_back_channel(sandbox)
    sandbox_login(client, TOMAS)
    assert sandbox_back_channel(sandbox) - before == Counter({"token": 1})

    before = sandbox_back_channel(sandbox)
    sandbox_login(client, TOMAS, fetch_userinfo=True)
    assert sandbox_back_channel(sandbox) - before == Counter({"token": 1, "userinfo": 1})


def test_constructing_a_client_makes_no_request(sandbox: SandboxHandle) -> None:
    """Discovery is lazy: building the client (and the login URL's config) sends nothing."""
    make_client(sandbox)
    assert sandbox_back_channel(sandbox) == Counter()


def test_a_failed_refresh_can_be_retried_at_once(sandbox: SandboxHandle) -> None:
    """A refresh that failed on the network is retried by the next call, not answered from cache."""
    client = make_client(sandbox, refresh_tokens=True)
    first = sandbox_login(client, TOMAS)
    refresh_token = first.tokens.refresh_token
    assert refresh_token is not None
    sandbox.set_fault("token", "error", status=500)
    with pytest.raises(ProviderUnavailableError):
        client.refresh(refresh_token, previous=first.id_token)
    sandbox.clear_faults()
    refreshed = client.refresh(refresh_token, previous=first.id_token)
    assert refreshed.identity.key == first.identity.key
    assert sandbox.request_counts()["token"] == 3


def test_cold_start_under_concurrency_fetches_discovery_and_keys_once(op: FakeOP) -> None:
    """Eight threads validating on a cold client share one discovery and one JWKS fetch."""
    client = make_client(op)
    token = mint_id_token(op, "n-cold")
    start = threading.Barrier(8)
    results: list[IdToken] = []

    def worker() -> None:
        start.wait(5)
        results.append(validate(client, token, "n-cold"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8
    assert back_channel(op) == Counter({DISCOVERY: 1, op.jwks_path: 1})


def test_discovery_outage_after_ttl_serves_last_known_good_and_retries_sparingly(
    op: FakeOP,
) -> None:
    """Past discovery_ttl with the OP failing, the cached document serves; retries wait 30 s."""
    clock = Clock()
    client = make_client(op, clock=clock)
    metadata = client.metadata()
    op.fail.add("openid-configuration")
    clock.now += 3601  # discovery_ttl (1 h) has passed
    assert client.metadata() == metadata
    assert op.counts[DISCOVERY] == 2
    clock.now += 29
    assert client.metadata() == metadata
    assert op.counts[DISCOVERY] == 2
    clock.now += 2
    assert client.metadata() == metadata
    assert op.counts[DISCOVERY] == 3
    op.fail.clear()
    clock.now += 31
    client.metadata()
    assert op.counts[DISCOVERY] == 4
    clock.now += 60
    client.metadata()
    assert op.counts[DISCOVERY] == 4  # fresh again for a full TTL
