"""Signing keys, persisted in the data directory: the OIDC key ring and the SAML key pair."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import KeySet, RSAKey

from .certificates import certificate_builder, private_key_pem
from .clock import SandboxClock

__all__ = ["KeyRing", "SamlKeyPair", "SamlKeyRing", "load_saml_key_pair"]

_K = TypeVar("_K")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _new_rsa_jwk() -> RSAKey:
    kid = f"sandbox-{secrets.token_hex(6)}"
    return RSAKey.generate_key(
        2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True
    )


@dataclass(slots=True)
class _Entry(Generic[_K]):
    key: _K
    published: bool
    retire_at: float | None  # when a retired key leaves what is published; None while signing


class _Ring(Generic[_K]):
    """One signing key plus retired ones still published during a grace period.

    What the OIDC key ring and the SAML certificates share: a rotation signs with the new
    key at once and retires the old one after ``grace``; ``publish=False`` signs with a
    key that is not published yet, until :meth:`publish_all`.
    """

    def __init__(
        self,
        clock: SandboxClock,
        entries: list[_Entry[_K]],
        *,
        label: Callable[[_K], dict[str, Any]],
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries = entries
        self._label = label  # how describe() names a key

    def _live(self) -> list[_Entry[_K]]:
        now = self._clock.time()
        return [e for e in self._entries if e.retire_at is None or e.retire_at > now]

    def _signer(self) -> _K:
        return next(e.key for e in self._entries if e.retire_at is None)

    def _start_signing(self, key: _K, grace: timedelta, publish: bool) -> None:
        """Retire the signer after ``grace`` and sign with ``key``; the caller holds the lock."""
        retire_at = self._clock.time() + grace.total_seconds()
        for entry in self._entries:
            if entry.retire_at is None:
                entry.retire_at = retire_at
        self._entries = [*self._live(), _Entry(key, publish, None)]

    def _changed(self) -> None:
        """Persist the entries after a change (the lock is held); kept in memory by default."""

    def publish_all(self) -> None:
        """Publish every live key, e.g. the one a ``rotate(publish=False)`` made."""
        with self._lock:
            for entry in self._entries:
                entry.published = True
            self._changed()

    def describe(self) -> list[dict[str, Any]]:
        """A JSON view of the ring for the admin API (no private parts)."""
        with self._lock:
            return [
                {
                    **self._label(e.key),
                    "signing": e.retire_at is None,
                    "published": e.published,
                    "retire_at": e.retire_at,
                }
                for e in self._live()
            ]


class KeyRing(_Ring[RSAKey]):
    """The OIDC signing keys: one signer, plus retired keys published during a grace period.

    ``rotate(publish=False)`` makes the sandbox sign with a key that is *not yet* in the
    JWKS, which is how a relying party's "unknown kid -> refetch JWKS" path gets tested.
    """

    def __init__(self, path: Path, clock: SandboxClock) -> None:
        super().__init__(clock, [], label=lambda key: {"kid": key.kid})
        self._path = path
        if path.is_file():
            self._load()
        if not self._entries:
            self._entries = [_Entry(_new_rsa_jwk(), True, None)]
            self._save()

    def _load(self) -> None:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            self._entries = [
                _Entry(RSAKey.import_key(e["jwk"]), bool(e["published"]), e["retire_at"])
                for e in data["keys"]
            ]
        except (OSError, ValueError, KeyError, TypeError):
            self._entries = []

    def _save(self) -> None:
        data = {
            "keys": [
                {
                    "jwk": e.key.as_dict(private=True),
                    "published": e.published,
                    "retire_at": e.retire_at,
                }
                for e in self._entries
            ]
        }
        _write_atomic(self._path, json.dumps(data, indent=2))

    def _changed(self) -> None:
        self._save()

    @property
    def signing_key(self) -> RSAKey:
        """The key that signs new tokens."""
        with self._lock:
            return self._signer()

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS document: published keys, including retired ones still in their grace."""
        with self._lock:
            keys = [e.key.as_dict(private=False) for e in self._live() if e.published]
        return {"keys": keys}

    def verification_keys(self) -> KeySet:
        """Every key the sandbox itself accepts on tokens it issued (published or not)."""
        with self._lock:
            return KeySet([e.key for e in self._live()])

    def rotate(self, *, grace: timedelta = timedelta(minutes=5), publish: bool = True) -> str:
        """Start signing with a new key; the old one stays published for ``grace``.

        Returns the new key's ``kid``.
        """
        with self._lock:
            key = _new_rsa_jwk()
            self._start_signing(key, grace, publish)
            self._save()
            return str(key.kid)


@dataclass(frozen=True, slots=True)
class SamlKeyPair:
    """The IdP's SAML signing key and self-signed certificate, both PEM."""

    key_pem: bytes
    cert_pem: bytes

    @property
    def cert_base64(self) -> str:
        """The certificate as the base64 DER that goes in ``<ds:X509Certificate>``."""
        lines = self.cert_pem.decode().strip().splitlines()
        return "".join(line for line in lines if not line.startswith("-----"))

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate (hex), as shown by the admin API."""
        cert = x509.load_pem_x509_certificate(self.cert_pem)
        return cert.fingerprint(hashes.SHA256()).hex()


def _new_saml_key_pair(common_name: str) -> SamlKeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = datetime.now(UTC)
    cert = certificate_builder(
        subject=name,
        issuer=name,
        public_key=key.public_key(),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=3650),
    ).sign(key, hashes.SHA256())
    return SamlKeyPair(private_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def _save_saml_key_pair(directory: Path, pair: SamlKeyPair) -> None:
    _write_atomic(directory / "saml-key.pem", pair.key_pem.decode())
    _write_atomic(directory / "saml-cert.pem", pair.cert_pem.decode())


def load_saml_key_pair(directory: Path, common_name: str) -> SamlKeyPair:
    """Load the SAML key pair from ``directory``, creating it on first use."""
    key_path, cert_path = directory / "saml-key.pem", directory / "saml-cert.pem"
    if key_path.is_file() and cert_path.is_file():
        return SamlKeyPair(key_path.read_bytes(), cert_path.read_bytes())
    pair = _new_saml_key_pair(common_name)
    _save_saml_key_pair(directory, pair)
    return pair


class SamlKeyRing(_Ring[SamlKeyPair]):
    """The SAML signing certificates: one signer, plus retired ones listed during a grace.

    As with IdentityServer's key management (which RSK SAML2P signs with), metadata lists
    the current certificate and, for ``grace``, the one it replaced. A rotation signs with
    the new certificate at once (an emergency rotation): an SP holding older metadata must
    refetch it when a signature fails, as rpkit's does. ``rotate(publish=False)`` signs with
    a certificate the metadata does not list yet. Only the current pair is kept on disk.
    """

    def __init__(self, directory: Path, common_name: str, clock: SandboxClock) -> None:
        pair = load_saml_key_pair(directory, common_name)
        super().__init__(
            clock, [_Entry(pair, True, None)], label=lambda pair: {"sha256": pair.fingerprint}
        )
        self._directory = directory
        self._common_name = common_name

    @property
    def signing(self) -> SamlKeyPair:
        """The pair that signs responses and logout messages now."""
        with self._lock:
            return self._signer()

    def published_certs(self) -> list[str]:
        """Base64 DER of the certificates to list in metadata, the signer first."""
        with self._lock:
            live = sorted(self._live(), key=lambda e: e.retire_at is not None)
            return [e.key.cert_base64 for e in live if e.published]

    def rotate(self, *, grace: timedelta = timedelta(minutes=5), publish: bool = True) -> str:
        """Sign with a new certificate; the old one stays in metadata for ``grace``.

        Returns the new certificate's SHA-256 fingerprint (hex).
        """
        pair = _new_saml_key_pair(self._common_name)
        with self._lock:
            self._start_signing(pair, grace, publish)
            _save_saml_key_pair(self._directory, pair)
        return pair.fingerprint

    def reset(self) -> None:
        """Keep only the signing certificate, listed in metadata (a sandbox reset)."""
        with self._lock:
            self._entries = [_Entry(self._signer(), True, None)]
