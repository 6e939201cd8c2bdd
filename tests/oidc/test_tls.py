"""TLS to a ship server on loopback: private CA bundles, pinned certificates, timeouts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rpkit._http import HttpClient
from rpkit.config import HttpConfig, OidcConfig
from rpkit.errors import ProviderUnavailableError
from rpkit.oidc import OidcClient

from .conftest import make_client
from .fake_op import CLIENT_ID, FakeOP, Grant


@dataclass(frozen=True)
class Pem:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Pem:
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pem(cert_path, key_path)


def _builder(
    subject: str, issuer: str, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def make_ca(
    directory: Path, name: str = "Nordic Tankers Ship CA"
) -> tuple[Pem, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .sign(key, hashes.SHA256())
    )
    return _write(directory, "ca", cert, key), cert, key


def make_server_cert(
    directory: Path,
    stem: str,
    *,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    ip: str | None = "127.0.0.1",
    common_name: str = "127.0.0.1",
) -> Pem:
    """A server certificate signed by ``ca``, or self-signed when ``ca`` is None."""
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name = ca[0].subject.rfc4514_string().removeprefix("CN=") if ca else common_name
    builder = (
        _builder(common_name, issuer_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    if ca is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca[1].public_key()), critical=False
        )
        cert = builder.sign(ca[1], hashes.SHA256())
    else:
        cert = builder.sign(key, hashes.SHA256())
    return _write(directory, stem, cert, key)


def server_context(pem: Pem) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem.cert, pem.key)
    return context


@pytest.fixture
def ca_op(tmp_path: Path) -> Iterator[tuple[FakeOP, Path]]:
    """An HTTPS provider whose certificate a private ship CA issued; yields it and the CA."""
    ca_pem, ca_cert, ca_key = make_ca(tmp_path)
    server = make_server_cert(tmp_path, "server", ca=(ca_cert, ca_key))
    op = FakeOP(tls=server_context(server)).start()
    yield op, ca_pem.cert
    op.stop()


@pytest.fixture
def self_signed_op(tmp_path: Path) -> Iterator[tuple[FakeOP, Path]]:
    """An HTTPS provider with a self-signed certificate naming no IP; yields it and the cert."""
    server = make_server_cert(tmp_path, "self-signed", ip=None, common_name="shipserver.local")
    op = FakeOP(tls=server_context(server)).start()
    yield op, server.cert
    op.stop()


def _exercise(client: OidcClient, op: FakeOP) -> None:
    """Discovery, JWKS and the token endpoint, all over TLS."""
    assert client.metadata().issuer == op.issuer
    grant = Grant(CLIENT_ID, "http://127.0.0.1:5999/callback", "n-tls", None, "openid", op.sub)
    token = op.id_token(grant, "at", extra={})
    expected = client.expected_id_token(nonce="n-tls")
    assert client.validate_id_token(token, expected=expected).subject == op.sub
    assert client.client_credentials(("crew.read",)).access_token
    assert op.counts[op.jwks_path] == 1


def test_private_ca_bundle_is_trusted(ca_op: tuple[FakeOP, Path]) -> None:
    """With ca_bundle set to the ship's CA, every call to the HTTPS provider succeeds."""
    op, ca = ca_op
    assert op.issuer.startswith("https://127.0.0.1:")
    _exercise(make_client(op, http=HttpConfig(ca_bundle=str(ca))), op)


def test_without_the_ca_tls_fails_as_provider_unavailable(ca_op: tuple[FakeOP, Path]) -> None:
    """Without the private CA the handshake fails: ProviderUnavailableError naming TLS."""
    op, _ = ca_op
    with pytest.raises(ProviderUnavailableError) as exc:
        make_client(op).metadata()
    assert "TLS" in str(exc.value)
    assert op.counts == {}


def test_another_ca_bundle_is_not_trusted(ca_op: tuple[FakeOP, Path], tmp_path: Path) -> None:
    """A CA bundle holding a different CA does not vouch for the server."""
    op, _ = ca_op
    (tmp_path / "other").mkdir()
    other, _, _ = make_ca(tmp_path / "other", "Another Fleet CA")
    with pytest.raises(ProviderUnavailableError) as exc:
        make_client(op, http=HttpConfig(ca_bundle=str(other.cert))).metadata()
    assert "TLS" in str(exc.value)


def test_pinned_self_signed_certificate_is_trusted(self_signed_op: tuple[FakeOP, Path]) -> None:
    """A pinned certificate is trusted on a bare IP even though it names another host."""
    op, cert = self_signed_op
    _exercise(make_client(op, http=HttpConfig(pinned_cert_file=str(cert))), op)


def test_wrong_pin_is_rejected(self_signed_op: tuple[FakeOP, Path], tmp_path: Path) -> None:
    """A certificate other than the pinned one fails, however valid it looks."""
    op, _ = self_signed_op
    other = make_server_cert(tmp_path, "other", ip=None, common_name="shipserver.local")
    client = make_client(op, http=HttpConfig(pinned_cert_file=str(other.cert)))
    with pytest.raises(ProviderUnavailableError) as exc:
        client.metadata()
    assert "TLS" in str(exc.value)
    assert op.counts == {}


def test_every_call_has_a_default_timeout() -> None:
    """Without configuration a call still times out: 5 s to connect, 10 s to read."""
    assert HttpClient(HttpConfig()).timeout == (5.0, 10.0)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_provider_that_never_answers_times_out(silent_port: int, scheme: str) -> None:
    """A hung provider (no HTTP answer, or no TLS handshake) fails fast with the set timeout."""
    http = HttpConfig(timeout=timedelta(seconds=0.3), connect_timeout=timedelta(seconds=0.3))
    config = OidcConfig(issuer=f"{scheme}://127.0.0.1:{silent_port}/auth", client_id="c", http=http)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError) as exc:
        OidcClient(config).metadata()
    assert time.monotonic() - started < 3
    # The read timeout and the call's deadline are both 0.3 s here: either may fire first.
    assert exc.value.reason in ("deadline", "timeout")
