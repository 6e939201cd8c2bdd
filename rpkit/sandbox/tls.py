"""HTTPS for ``rpkit sandbox --tls``: a private CA, a server certificate, and TLS faults.

A ship-side identity server is reached by a LAN host name or IP and presents a certificate
from the shipowner's private CA. This module makes the same setup in the data directory:
``tls/ca.crt`` (what an app puts in ``RPKIT_CA_BUNDLE``), ``tls/ca.key``, ``tls/server.crt``
and ``tls/server.key``. They are kept across restarts; the server certificate is issued
again when the names asked for change or it comes within 30 days of expiry.

The certificate served can be switched at run time to rehearse what goes wrong at sea:
``expired``, ``expiring`` (valid for 10 more days), ``wrong_name`` (issued for another
host), ``unknown_ca`` (issued by a CA the app does not trust) and ``self_signed``. Every
certificate the sandbox serves is written under ``tls/``, so its own admin client can
recognise it by fingerprint whatever fault is on (:func:`trusted_fingerprints`).

These are throwaway test keys: never use them for anything real.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import ssl
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeGuard

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import ConfigurationError
from .certificates import certificate_builder, private_key_pem

__all__ = [
    "TLS_CERTIFICATES",
    "WRONG_NAME",
    "SandboxTls",
    "TlsCertificate",
    "default_hostnames",
    "trusted_fingerprints",
    "validate_hostname",
]

TlsCertificate = Literal["valid", "expired", "expiring", "wrong_name", "unknown_ca", "self_signed"]
TLS_CERTIFICATES: tuple[TlsCertificate, ...] = (
    "valid",
    "expired",
    "expiring",
    "wrong_name",
    "unknown_ca",
    "self_signed",
)
# A name no client asks for (.invalid never resolves, RFC 6761 §6.4).
WRONG_NAME = "wrong-name.rpkit-sandbox.invalid"

_CA_LIFETIME = timedelta(days=3650)
_SERVER_LIFETIME = timedelta(days=397)  # the CA/Browser Forum's maximum for public certs
_RENEW_BEFORE = timedelta(days=30)
_EXPIRING_IN = timedelta(days=10)
_BACKDATE = timedelta(minutes=5)  # tolerate a client clock slightly behind


def _is_certificate(value: str) -> TypeGuard[TlsCertificate]:
    return value in TLS_CERTIFICATES


def default_hostnames(host: str) -> tuple[str, ...]:
    """The names a certificate covers when none are given: the bind address and localhost."""
    try:
        unspecified = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        unspecified = False
    first = "127.0.0.1" if unspecified or not host else host.strip("[]")
    return tuple(dict.fromkeys((first, "localhost")))


def validate_hostname(name: str) -> str:
    """Return ``name`` (a DNS name or an IP address) or raise ``ConfigurationError``."""
    value = name.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if not value or any(
        not label or len(label) > 63 or not all(c.isalnum() or c == "-" for c in label)
        for label in labels
    ):
        raise ConfigurationError(f"TLS host name {name!r} must be a DNS name or an IP address")
    return value.lower()


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _names_of(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return ips | set(san.get_values_for_type(x509.DNSName))


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: instant to generate, and what ship servers commonly use next to RSA-2048.
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rpkit sandbox (throwaway)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, common_name: str, now: datetime
) -> x509.Certificate:
    public = key.public_key()
    return (
        certificate_builder(
            subject=_name(common_name),
            issuer=_name(common_name),
            public_key=public,
            not_before=now - _BACKDATE,
            not_after=now + _CA_LIFETIME,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    names: Sequence[str],
    *,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """A TLS server certificate for ``names``; ``issuer=None`` makes it self-signed."""
    subject = _name(names[0])
    issuer_name = issuer.subject if issuer is not None else subject
    builder = (
        certificate_builder(
            subject=subject,
            issuer=issuer_name,
            public_key=key.public_key(),
            not_before=not_before,
            not_after=not_after,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = private_key_pem(key)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def trusted_fingerprints(data_dir: Path) -> frozenset[str]:
    """SHA-256 fingerprints of every certificate a sandbox with ``data_dir`` may serve.

    The admin client pins these instead of verifying a chain, so it keeps working while
    a TLS fault serves an expired or foreign certificate.
    """
    prints: set[str] = set()
    for path in sorted((Path(data_dir) / "tls").glob("*.crt")):
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError):
            continue
        prints.add(_fingerprint(cert))
    return frozenset(prints)


class SandboxTls:
    """The sandbox's CA, its server certificates and the one currently served."""

    def __init__(self, data_dir: Path, hostnames: Sequence[str]) -> None:
        if not hostnames:
            raise ConfigurationError("the sandbox TLS certificate needs at least one host name")
        self.hostnames = tuple(dict.fromkeys(validate_hostname(n) for n in hostnames))
        self.directory = Path(data_dir) / "tls"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        self.ca_file = self.directory / "ca.crt"
        self.cert_file = self.directory / "server.crt"
        self._lock = threading.Lock()
        self._served: TlsCertificate = "valid"
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._ca_key, self._ca_cert = self._load_or_create_ca()
        self._load_or_issue_server()
        self.context = self._server_context(self.cert_file, self.directory / "server.key")
        # OpenSSL calls this for every ClientHello, with or without SNI (a client that
        # connects by IP sends none), so the certificate can be switched per connection.
        self.context.sni_callback = self._select

    @property
    def certificate(self) -> TlsCertificate:
        """Which certificate new connections get (``valid`` unless a fault is on)."""
        with self._lock:
            return self._served

    def serve(self, certificate: str) -> None:
        """Serve ``certificate`` (one of :data:`TLS_CERTIFICATES`) to new connections."""
        if not _is_certificate(certificate):
            raise ValueError(
                f"TLS certificate {certificate!r} is unknown; use one of "
                + ", ".join(TLS_CERTIFICATES)
            )
        if certificate != "valid":
            self._fault_context(certificate)  # create it now, not during a handshake
        with self._lock:
            self._served = certificate

    def fingerprints(self) -> frozenset[str]:
        """Fingerprints of every certificate this sandbox may serve."""
        return trusted_fingerprints(self.directory.parent)

    def describe(self) -> dict[str, Any]:
        """What the admin API shows: served certificate, names, CA file, expiry."""
        cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        return {
            "certificate": self.certificate,
            "certificates": list(TLS_CERTIFICATES),
            "hostnames": list(self.hostnames),
            "ca_bundle": str(self.ca_file.resolve()),
            "not_after": cert.not_valid_after_utc.isoformat(),
        }

    # -- internals ---------------------------------------------------------------------

    def _select(self, sock: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _ctx: Any) -> None:
        served = self.certificate
        if served != "valid":
            sock.context = self._fault_context(served)

    def _load_or_create_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key_path = self.directory / "ca.key"
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
            if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > (
                datetime.now(UTC) + _SERVER_LIFETIME
            ):
                return key, cert
        except (OSError, ValueError):
            pass
        key = _new_key()
        cert = _ca_certificate(key, "rpkit sandbox private CA", datetime.now(UTC))
        _write_private(key_path, key)
        _write_cert(self.ca_file, cert)
        # A new CA invalidates every certificate the old one issued.
        for stale in self.directory.glob("*.crt"):
            if stale != self.ca_file:
                stale.unlink()
        return key, cert

    def _load_or_issue_server(self) -> None:
        now = datetime.now(UTC)
        try:
            cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
            serialization.load_pem_private_key(
                (self.directory / "server.key").read_bytes(), password=None
            )
            cert.verify_directly_issued_by(self._ca_cert)
            if (
                _names_of(cert) == set(self.hostnames)
                and cert.not_valid_after_utc - now > _RENEW_BEFORE
            ):
                return
        except (OSError, ValueError, TypeError, InvalidSignature):
            pass
        key = _new_key()
        cert = _server_certificate(
            key,
            self.hostnames,
            issuer_key=self._ca_key,
            issuer=self._ca_cert,
            not_before=now - _BACKDATE,
            not_after=now + _SERVER_LIFETIME,
        )
        _write_private(self.directory / "server.key", key)
        _write_cert(self.cert_file, cert)
        for fault in TLS_CERTIFICATES:  # fault certificates name the old host names
            (self.directory / f"fault-{fault}.crt").unlink(missing_ok=True)

    def _fault_context(self, fault: str) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get(fault)
            if context is None:
                cert_path, key_path = self._issue_fault(fault)
                context = self._server_context(cert_path, key_path)
                self._contexts[fault] = context
            return context

    def _issue_fault(self, fault: str) -> tuple[Path, Path]:
        now = datetime.now(UTC)
        key = _new_key()
        names: Sequence[str] = self.hostnames
        issuer_key = self._ca_key
        issuer: x509.Certificate | None = self._ca_cert
        not_before, not_after = now - _BACKDATE, now + _SERVER_LIFETIME
        if fault == "expired":
            not_before, not_after = now - timedelta(days=90), now - timedelta(days=1)
        elif fault == "expiring":
            not_after = now + _EXPIRING_IN
        elif fault == "wrong_name":
            names = (WRONG_NAME,)
        elif fault == "unknown_ca":
            issuer_key = _new_key()
            issuer = _ca_certificate(issuer_key, "rpkit sandbox unknown CA", now)
        elif fault == "self_signed":
            issuer_key, issuer = key, None
        cert = _server_certificate(
            key,
            names,
            issuer_key=issuer_key,
            issuer=issuer,
            not_before=not_before,
            not_after=not_after,
        )
        cert_path = self.directory / f"fault-{fault}.crt"
        key_path = self.directory / f"fault-{fault}.key"
        _write_private(key_path, key)
        _write_cert(cert_path, cert)
        return cert_path, key_path

    @staticmethod
    def _server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert_path), str(key_path))
        return context
