"""The provider's signing keys (JWKS): parsed once, cached, refetched with restraint.

Rules, chosen for a ship whose link to shore is slow and metered:

* Keys are parsed once per fetch and reused; validation never parses JSON keys.
* A token whose ``kid`` is unknown triggers one immediate refetch (the provider rotated);
  further unknown-``kid`` refetches happen at most once per ``jwks_refetch_cooldown``, so a
  flood of tokens with random ``kid`` values cannot turn into a flood of JWKS requests.
* Concurrent callers share one fetch (single-flight).
* When a fetch fails, the last-known-good keys (memory, then disk) stay in use, with the
  retry pause of :mod:`rpkit._cache`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OctKey, OKPKey, RSAKey
from joserfc.util import urlsafe_b64decode

from .._cache import DiskCopy, LastKnownGood
from .._clock import Clock
from ..errors import MetadataError, ProviderError
from ..store import FileCache
from .discovery import document_cache

__all__ = ["JwksCache", "SigningKeys", "WeakKey", "key_weakness", "parse_jwks"]

log = logging.getLogger("rpkit.oidc")

AnyKey = RSAKey | ECKey | OKPKey | OctKey

# JWS alg (RFC 7518 §3.1) -> the key type that can verify it.
_KTY_FOR_ALG = {
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "PS384": "RSA",
    "PS512": "RSA",
    "ES256": "EC",
    "ES384": "EC",
    "ES512": "EC",
    "EdDSA": "OKP",
    "HS256": "oct",
}


# RFC 7518 §3.3: RSA keys of 2048 bits or more. The NIST curves JWS defines for ES256/384/512
# (§3.4); anything else (secp256k1, a made-up name) is not a curve rpkit trusts.
MIN_RSA_BITS = 2048
EC_CURVES = frozenset({"P-256", "P-384", "P-521"})


@dataclass(frozen=True, slots=True)
class WeakKey:
    """A published key rpkit refuses to use, kept so a token naming it fails as ``weak_key``."""

    kid: str | None
    kty: str
    why: str


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """An immutable snapshot of parsed verification keys (and of the weak ones dropped)."""

    keys: tuple[AnyKey, ...]
    weak: tuple[WeakKey, ...] = ()

    def candidates(self, kid: str | None, alg: str) -> list[AnyKey]:
        """Keys that may verify a token with this ``kid`` (or none given) and ``alg``."""
        kty = _KTY_FOR_ALG.get(alg)
        found: list[AnyKey] = []
        for key in self.keys:
            if key.key_type != kty:
                continue
            if kid is not None and key.kid != kid:
                continue
            if key.get("use") not in (None, "sig"):
                continue
            key_alg = key.get("alg")
            if key_alg is not None and key_alg != alg:
                continue
            found.append(key)
        return found

    def has_kid(self, kid: str) -> bool:
        return any(key.kid == kid for key in self.keys)

    def weak_key(self, kid: str | None, alg: str) -> WeakKey | None:
        """The dropped weak key this ``kid`` (or, without one, this ``alg``) points at."""
        kty = _KTY_FOR_ALG.get(alg)
        for weak in self.weak:
            if (kid is not None and weak.kid == kid) or (kid is None and weak.kty == kty):
                return weak
        return None


def key_weakness(raw: Mapping[str, Any]) -> str | None:
    """Why a JWK is too weak to trust, or None. Read from the JWK before it is imported."""
    kty = raw.get("kty")
    if kty == "RSA":
        modulus = raw.get("n")
        if not isinstance(modulus, str) or not isinstance(raw.get("e"), str):
            return None  # not an RSA public key at all; the import reports it
        try:
            bits = int.from_bytes(urlsafe_b64decode(modulus.encode("ascii")), "big").bit_length()
        except (ValueError, UnicodeError):
            return None
        if bits < MIN_RSA_BITS:
            return f"RSA key of {bits} bits (rpkit requires {MIN_RSA_BITS}, RFC 7518 §3.3)"
    if kty == "EC":
        crv = raw.get("crv")
        if crv not in EC_CURVES:
            return f"EC key on curve {str(crv)[:20]!r} (rpkit accepts P-256, P-384, P-521)"
    return None


def parse_jwks(document: Mapping[str, Any]) -> SigningKeys:
    """Parse a JWK Set (RFC 7517 §5), skipping keys that cannot be imported.

    Raises:
        MetadataError: the document is not a JWK Set or holds no usable public key.
    """
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list):
        raise MetadataError('JWKS has no "keys" list')
    keys: list[AnyKey] = []
    weak: list[WeakKey] = []
    for raw in raw_keys:
        if not isinstance(raw, dict) or raw.get("kty") == "oct":
            continue  # a symmetric key in a public JWKS is a provider bug; never trust it
        if any(p in raw for p in ("d", "p", "q")):
            continue  # private key material published by mistake; do not use it
        kid = raw.get("kid") if isinstance(raw.get("kid"), str) else None
        why = key_weakness(raw)
        if why is not None:
            log.warning("JWKS: dropping key kid=%s: %s", kid, why)
            weak.append(WeakKey(kid=kid, kty=str(raw.get("kty")), why=why))
            continue
        try:
            keys.append(KeySet.import_key_set({"keys": [raw]}).keys[0])
        except (JoseError, ValueError, TypeError, KeyError):
            log.warning("JWKS: skipping a key rpkit cannot import (kid=%s)", raw.get("kid"))
    if not keys and not weak:
        raise MetadataError("JWKS holds no usable signing key")
    # Only weak keys: keep the (empty) snapshot, so that tokens fail as "weak_key" and say
    # which key, rather than the whole provider looking unreachable.
    return SigningKeys(tuple(keys), tuple(weak))


class JwksCache:
    """Cached ``SigningKeys`` for one ``jwks_uri``: the last-known-good rules of
    :mod:`rpkit._cache`, plus the unknown-``kid`` refetch and its cool-down.

    ``clock``: a :class:`~rpkit._clock.Clock` (its monotonic time for the cool-down, its
    wall time for the TTL and the disk copy's age), or in the older form monotonic seconds,
    with ``wall_clock`` in epoch seconds.
    """

    def __init__(
        self,
        fetch: Callable[[], Mapping[str, Any]],
        *,
        cooldown: timedelta,
        ttl: timedelta,
        max_age: timedelta,
        file_cache: FileCache | None = None,
        cache_name: str = "jwks",
        clock: Clock | Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(clock, Clock):
            clock = Clock(wall=wall_clock, monotonic=clock)
        self._fetch = fetch
        self._cooldown = cooldown.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self._last_forced: float | None = None
        disk = DiskCopy(file_cache, cache_name, max_age) if file_cache is not None else None
        self._cache: LastKnownGood[SigningKeys] = document_cache(
            "JWKS", self._fetch_keys, _load_keys, ttl, disk, clock
        )

    def current(self) -> SigningKeys:
        """Return the cached keys, fetching on first use or after the TTL."""
        return self._cache.get()

    def refresh_for(self, seen: SigningKeys) -> SigningKeys | None:
        """Refetch because a token named a key not in ``seen``; None if rate-limited.

        Returns the keys to retry with. Callers racing on the same rotation share one
        fetch: whoever waits on the lock finds the keys already replaced.
        """
        with self._lock:
            keys = self._cache.value
            if keys is not None and keys is not seen:
                return keys
            now = self._clock.monotonic()
            if self._last_forced is not None and now - self._last_forced < self._cooldown:
                return None
            self._last_forced = now
            try:
                keys = self._cache.refresh()
            except ProviderError:
                log.warning("JWKS refetch for an unknown key failed")
                return None
            # A failed refetch leaves the keys in hand: nothing new to retry with.
            return None if keys is seen else keys

    def _fetch_keys(self, _now: datetime) -> tuple[SigningKeys, Any]:
        document = self._fetch()
        return parse_jwks(document), dict(document)


def _load_keys(document: Any, _now: datetime) -> SigningKeys:
    if not isinstance(document, dict):
        raise MetadataError("the cached JWKS is not a JSON object")
    return parse_jwks(document)
