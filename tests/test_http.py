"""Outbound HTTP against hostile servers on loopback: deadline, size caps, failure reasons."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rpkit._http import FAILURE_REASONS, HttpClient, failure_reason
from rpkit.config import HttpConfig, OidcConfig
from rpkit.errors import ProviderUnavailableError
from rpkit.oauth import ClientConfig, request_token
from rpkit.reasons import explain
from rpkit.saml import SamlConfig
from rpkit.saml.metadata import IdpMetadataSource
from rpkit.scim import ScimClient, ScimConfig

Handler = Callable[["RawServer", socket.socket], None]


class RawServer:
    """A loopback server that answers each connection with ``handler``, byte by byte."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.stopped = threading.Event()
        self.connections = 0
        self.body_bytes_sent = 0
        self.finished = threading.Event()  # set when a handler returns
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            _read_request(conn)
            self.handler(self, conn)
        except (OSError, ssl.SSLError):
            pass  # the client gave up: what these tests provoke
        finally:
            conn.close()
            self.finished.set()

    def stop(self) -> None:
        self.stopped.set()
        self._sock.close()
        self._accept.join(5)
        for thread in self._threads:
            thread.join(5)


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(4096)


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler, tls: ssl.SSLContext | None = None) -> RawServer:
        server = RawServer(handler, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _ok(server: RawServer, conn: socket.socket) -> None:
    body = b'{"ok": true}'
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )


def _drip_body(server: RawServer, conn: socket.socket) -> None:
    """A token endpoint that sends its headers, then one byte of a 200-byte body a second."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    )
    for _ in range(200):
        conn.sendall(b" ")
        server.body_bytes_sent += 1
        if server.stopped.wait(1.0):
            return


def _drip_headers(server: RawServer, conn: socket.socket) -> None:
    """A server that drips its status line and headers, one byte a second."""
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 200:
        conn.sendall(bytes([byte]))
        if server.stopped.wait(1.0):
            return


def _client(**http: object) -> HttpClient:
    values: dict[str, object] = {"timeout": timedelta(seconds=1.5)}
    values.update(http)
    return HttpClient(HttpConfig(**values))  # type: ignore[arg-type]


def test_ok_server_answers() -> None:
    """The happy path still reads the whole answer (a control for the tests below)."""
    server = RawServer(_ok)
    try:
        response = _client().request("GET", server.url(), what="probe")
        assert response.json() == {"ok": True}
    finally:
        server.stop()


def test_dripping_token_endpoint_fails_at_the_deadline(serve: Callable[..., RawServer]) -> None:
    """One byte a second of a token response: the call ends at the deadline, not per read."""
    server = serve(_drip_body)
    client = ClientConfig(
        token_endpoint=server.url("/auth/connect/token"), client_id="c", client_secret="s"
    )
    http = _client()
    with pytest.raises(ProviderUnavailableError) as exc:
        request_token(http, client, {"grant_type": "x"}, what="token")
    assert exc.value.reason == "deadline"
    assert exc.value.retryable
    # Each byte arrived well within the per-read timeout; only the deadline stopped it.
    assert 0 < server.body_bytes_sent < 200


def test_dripping_headers_fail_at_the_deadline(serve: Callable[..., RawServer]) -> None:
    """Headers dripped a byte a second are cut off by the same deadline."""
    server = serve(_drip_headers)
    with pytest.raises(ProviderUnavailableError) as exc:
        _client().request("GET", server.url(), what="discovery")
    assert exc.value.reason == "deadline"


def _big_json(size: int, *, declare: bool) -> Handler:
    def handler(server: RawServer, conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if declare:
            head += f"Content-Length: {size}\r\n".encode()
        else:
            head += b"Transfer-Encoding: chunked\r\n"
        conn.sendall(head + b"\r\n")
        chunk = b" " * 65536
        while server.body_bytes_sent < size:
            if declare:
                conn.sendall(chunk)
            else:
                conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            server.body_bytes_sent += len(chunk)
        if not declare:
            conn.sendall(b"0\r\n\r\n")

    return handler


@pytest.mark.parametrize("declare", [True, False], ids=["content_length", "chunked"])
def test_24_mb_token_response_is_refused(serve: Callable[..., RawServer], declare: bool) -> None:
    """A 24 MB token response is refused at the 1 MB cap, declared or streamed."""
    size = 24 * 1024 * 1024
    server = serve(_big_json(size, declare=declare))
    client = ClientConfig(
        token_endpoint=server.url("/auth/connect/token"), client_id="c", client_secret="s"
    )
    with pytest.raises(ProviderUnavailableError) as exc:
        request_token(
            _client(timeout=timedelta(seconds=10)), client, {"grant_type": "x"}, what="token"
        )
    assert exc.value.reason == "too_large"
    assert not exc.value.retryable
    assert server.finished.wait(10)
    assert server.body_bytes_sent < size  # the client hung up long before the end


def test_declared_oversize_is_refused_before_the_body(serve: Callable[..., RawServer]) -> None:
    """A Content-Length over the cap is refused from the headers alone."""
    announced = threading.Event()

    def handler(server: RawServer, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n")
        announced.set()
        server.stopped.wait(30)  # never sends the body

    server = serve(handler)
    with pytest.raises(ProviderUnavailableError) as exc:
        _client(timeout=timedelta(seconds=20)).request("GET", server.url(), what="JWKS")
    assert exc.value.reason == "too_large"
    # The server thread sets the event just after its send returns, maybe after the client
    # already refused: wait for it rather than read it.
    assert announced.wait(10) and server.body_bytes_sent == 0


def _metadata_config(url: str, tmp_path: Path, **http: object) -> SamlConfig:
    return SamlConfig(
        sp_entity_id="https://sp.example/md",
        acs_url="https://sp.example/acs",
        sign_requests=False,
        idp_entity_id="https://idp.example",
        idp_metadata_url=url,
        http=HttpConfig(**http),  # type: ignore[arg-type]
    )


def test_metadata_over_the_cap_is_refused_before_it_is_all_read(
    serve: Callable[..., RawServer], tmp_path: Path
) -> None:
    """SAML metadata streamed past 4 MB is cut off; the server never sends it all."""
    size = 64 * 1024 * 1024
    server = serve(_big_json(size, declare=False))
    source = IdpMetadataSource(_metadata_config(server.url("/md"), tmp_path))
    with pytest.raises(ProviderUnavailableError) as exc:
        source.refresh()
    assert exc.value.reason == "too_large"
    assert server.finished.wait(10)
    assert server.body_bytes_sent < size


def test_metadata_cap_is_configurable(serve: Callable[..., RawServer], tmp_path: Path) -> None:
    """RPKIT_HTTP_MAX_METADATA_BYTES lowers the metadata cap; JSON keeps its own."""
    server = serve(_big_json(300 * 1024, declare=True))
    config = _metadata_config(server.url("/md"), tmp_path, max_metadata_bytes=100 * 1024)
    with pytest.raises(ProviderUnavailableError) as exc:
        IdpMetadataSource(config).refresh()
    assert exc.value.reason == "too_large"
    env = {"RPKIT_HTTP_MAX_METADATA_BYTES": "2048", "RPKIT_HTTP_MAX_RESPONSE_BYTES": "4096"}
    http = OidcConfig.from_env({"RPKIT_OIDC_CLIENT_ID": "c", **env}).http
    assert (http.max_metadata_bytes, http.max_response_bytes) == (2048, 4096)


# --- TLS: each certificate problem gets its own reason ---------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
    names: tuple[str, ...] = ("127.0.0.1",),
    expired: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    start, end = (
        (now - dt.timedelta(days=30), now - dt.timedelta(days=1))
        if expired
        else (
            now - dt.timedelta(days=1),
            now + dt.timedelta(days=1),
        )
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        alt: list[x509.GeneralName] = []
        for value in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(value)))
            except ValueError:
                alt.append(x509.DNSName(value))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(path: Path, cert: x509.Certificate) -> str:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _context(
    tmp_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> ssl.SSLContext:
    cert_file, key_file = tmp_path / "server.crt", tmp_path / "server.key"
    _pem(cert_file, cert)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture
def ship_ca(tmp_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, str]:
    key = _key()
    cert = _cert("Ship CA", key, ca=True)
    return cert, key, _pem(tmp_path / "ca.pem", cert)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "tls_expired"),
        ("other_ip", "tls_hostname"),
        ("other_name", "tls_hostname"),
        ("unknown_ca", "tls_unknown_issuer"),
        ("self_signed", "tls_self_signed"),
    ],
)
def test_tls_failures_get_their_reason(
    serve: Callable[..., RawServer],
    tmp_path: Path,
    ship_ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey, str],
    case: str,
    reason: str,
) -> None:
    """Expired, another name or IP, an untrusted CA and self-signed: four distinct reasons."""
    ca_cert, ca_key, ca_file = ship_ca
    key = _key()
    host = "127.0.0.1"
    trust: dict[str, object] = {"ca_bundle": ca_file}
    if case == "expired":
        cert = _cert("ship", key, issuer=(ca_cert, ca_key), expired=True)
    elif case == "other_ip":
        cert = _cert("ship", key, issuer=(ca_cert, ca_key), names=("10.9.9.9",))
    elif case == "other_name":
        cert = _cert("ship", key, issuer=(ca_cert, ca_key), names=("shipserver.local",))
        host = "localhost"
    elif case == "unknown_ca":
        cert = _cert("ship", key, issuer=(ca_cert, ca_key))
        trust = {}
    else:
        cert = _cert("ship", key)
    server = serve(_ok, tls=_context(tmp_path, cert, key))
    with pytest.raises(ProviderUnavailableError) as exc:
        _client(**trust).request("GET", server.url(host=host), what="OIDC discovery")
    assert exc.value.reason == reason
    assert not exc.value.retryable
    found = explain(exc.value)
    assert found is not None and found.cause == FAILURE_REASONS[reason]


def test_trusted_certificate_still_works(
    serve: Callable[..., RawServer],
    tmp_path: Path,
    ship_ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey, str],
) -> None:
    """The control: the ship CA's certificate for the right IP is accepted."""
    ca_cert, ca_key, ca_file = ship_ca
    key = _key()
    server = serve(_ok, tls=_context(tmp_path, _cert("ship", key, issuer=(ca_cert, ca_key)), key))
    assert _client(ca_bundle=ca_file).request("GET", server.url(), what="probe").json() == {
        "ok": True
    }


def test_pin_mismatch_has_its_reason(serve: Callable[..., RawServer], tmp_path: Path) -> None:
    """A certificate other than the pinned one: tls_pin_mismatch."""
    key = _key()
    server = serve(_ok, tls=_context(tmp_path, _cert("ship", key), key))
    other = _pem(tmp_path / "other.pem", _cert("other", _key()))
    with pytest.raises(ProviderUnavailableError) as exc:
        _client(pinned_cert_file=other).request("GET", server.url(), what="JWKS")
    assert exc.value.reason == "tls_pin_mismatch"


def test_scim_never_retries_a_tls_trust_failure(
    serve: Callable[..., RawServer], tmp_path: Path
) -> None:
    """SCIM against a self-signed server: one connection, no backoff, the TLS reason."""
    key = _key()
    server = serve(_ok, tls=_context(tmp_path, _cert("ship", key), key))
    sleeps: list[float] = []
    config = ScimConfig(
        base_url=server.url("/api/scim/v2"),
        token_url=server.url("/auth/connect/token"),
        client_id="sync",
        client_secret="s",
    )
    client = ScimClient(config, sleep=sleeps.append)
    with pytest.raises(ProviderUnavailableError) as exc:
        client.get_user("u-1")
    assert exc.value.reason == "tls_self_signed"
    assert sleeps == [] and server.connections == 1


def test_refused_port() -> None:
    """Nothing listening: connection_refused, not a timeout."""
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ProviderUnavailableError) as exc:
        _client().request("GET", f"http://127.0.0.1:{port}/", what="probe")
    assert exc.value.reason == "connection_refused"
    assert exc.value.retryable


def test_dns_failure() -> None:
    """A name that cannot resolve (RFC 6761 .invalid): dns."""
    with pytest.raises(ProviderUnavailableError) as exc:
        _client().request("GET", "https://rpkit-ship.invalid/auth", what="probe")
    assert exc.value.reason == "dns"
    assert "rpkit-ship.invalid" in exc.value.message


def test_every_reason_is_explained() -> None:
    """Each failure reason has a cause and a fix on the troubleshooting page."""
    assert set(FAILURE_REASONS) >= {
        "deadline",
        "timeout",
        "connection_refused",
        "dns",
        "tls_expired",
        "tls_hostname",
        "tls_unknown_issuer",
        "tls_self_signed",
        "too_large",
    }
    assert failure_reason(ConnectionRefusedError()) == "connection_refused"
    assert failure_reason(socket.gaierror(-2, "Name or service not known")) == "dns"
