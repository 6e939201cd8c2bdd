"""JWKS cache: parsing, refetch restraint, single-flight, last-known-good."""

from __future__ import annotations

import threading
import warnings
from datetime import timedelta
from typing import Any

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey

from rpkit.errors import MetadataError, ProviderUnavailableError
from rpkit.oidc.keys import JwksCache, parse_jwks
from rpkit.store import FileCache


def jwk(kid: str) -> dict[str, Any]:
    return RSAKey.generate_key(2048, parameters={"kid": kid}, auto_kid=False).as_dict(private=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A JWKS endpoint as a function: counts calls, can fail, can block."""

    def __init__(self, *kids: str) -> None:
        self.document = {"keys": [jwk(k) for k in kids]}
        self.calls = 0
        self.failing = False
        self.gate: threading.Event | None = None

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.failing:
            raise ProviderUnavailableError("JWKS: down")
        return self.document


def cache(source: Source, clock: Clock, **kwargs: Any) -> JwksCache:
    return JwksCache(
        source,
        cooldown=kwargs.pop("cooldown", timedelta(seconds=60)),
        ttl=kwargs.pop("ttl", timedelta(hours=24)),
        max_age=kwargs.pop("max_age", timedelta(days=7)),
        clock=clock,
        wall_clock=clock,
        **kwargs,
    )


def test_symmetric_and_private_keys_in_a_jwks_are_ignored() -> None:
    secret = OctKey.generate_key(256).as_dict()
    private = RSAKey.generate_key(2048).as_dict(private=True)
    keys = parse_jwks({"keys": [secret, private, jwk("good")]})
    assert [k.kid for k in keys.keys] == ["good"]


def test_weak_keys_are_dropped_with_a_warning_naming_the_kid(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RSA under 2048 bits and EC keys off the NIST curves leave the JWKS; the log says which."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns about the weak key it is asked for
        rsa1024 = RSAKey.generate_key(1024, parameters={"kid": "old-1024"}, auto_kid=False)
    k256 = ECKey.generate_key("secp256k1", parameters={"kid": "bitcoin-curve"}, auto_kid=False)
    p384 = ECKey.generate_key("P-384", parameters={"kid": "p384"}, auto_kid=False)
    document = {"keys": [k.as_dict(private=False) for k in (rsa1024, k256, p384)] + [jwk("good")]}
    with caplog.at_level("WARNING", logger="rpkit.oidc"), warnings.catch_warnings():
        warnings.simplefilter("error")  # rpkit must not even import the weak RSA key
        keys = parse_jwks(document)
    assert [k.kid for k in keys.keys] == ["p384", "good"]
    assert [(w.kid, w.kty) for w in keys.weak] == [("old-1024", "RSA"), ("bitcoin-curve", "EC")]
    logged = caplog.text
    assert "old-1024" in logged and "1024 bits" in logged
    assert "bitcoin-curve" in logged and "secp256k1" in logged


def test_a_jwks_of_weak_keys_only_still_parses_so_tokens_say_why() -> None:
    """All keys weak: no usable key, but the snapshot remembers them for the weak_key reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weak = RSAKey.generate_key(1024, parameters={"kid": "w"}, auto_kid=False)
    keys = parse_jwks({"keys": [weak.as_dict(private=False)]})
    assert keys.keys == () and keys.weak_key("w", "RS256") is not None
    assert keys.weak_key(None, "RS256") is not None and keys.weak_key(None, "ES256") is None


def test_a_jwks_without_usable_keys_is_an_error() -> None:
    with pytest.raises(MetadataError):
        parse_jwks({"keys": [{"kty": "RSA", "n": "AQAB"}]})


def test_keys_are_fetched_once_and_reused() -> None:
    source, clock = Source("k1"), Clock()
    jwks = cache(source, clock)
    assert jwks.current() is jwks.current()
    assert source.calls == 1


def test_unknown_kid_refetches_immediately_then_honours_cooldown() -> None:
    source, clock = Source("k1"), Clock()
    jwks = cache(source, clock)
    seen = jwks.current()
    assert jwks.refresh_for(seen) is not None  # first unknown kid: immediate
    assert source.calls == 2
    latest = jwks.current()
    for _ in range(20):  # a flood of random kids inside the cool-down
        assert jwks.refresh_for(latest) is None
    assert source.calls == 2
    clock.now += 61
    assert jwks.refresh_for(jwks.current()) is not None
    assert source.calls == 3


def test_concurrent_unknown_kid_is_single_flight() -> None:
    source, clock = Source("k1"), Clock()
    jwks = cache(source, clock)
    seen = jwks.current()
    source.gate = threading.Event()
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(jwks.refresh_for(seen))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    source.gate.set()
    for t in threads:
        t.join()
    assert source.calls == 2  # warm-up + one shared refetch
    assert all(r is not None for r in results)


def test_failed_refetch_keeps_last_known_good_keys() -> None:
    source, clock = Source("k1"), Clock()
    jwks = cache(source, clock, ttl=timedelta(minutes=5))
    first = jwks.current()
    source.failing = True
    clock.now += 600
    assert jwks.current() is first


def test_restart_uses_disk_copy_within_max_age(tmp_path: Any) -> None:
    source, clock = Source("k1"), Clock()
    cache(source, clock, file_cache=FileCache(tmp_path)).current()
    source.failing = True
    restarted = cache(source, clock, file_cache=FileCache(tmp_path))
    assert restarted.current().has_kid("k1")
    clock.now += timedelta(days=8).total_seconds()
    too_old = cache(source, clock, file_cache=FileCache(tmp_path))
    with pytest.raises(ProviderUnavailableError):
        too_old.current()
