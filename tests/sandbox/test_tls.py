"""`rpkit sandbox --tls`: a private CA kept in the data dir, https, and TLS faults."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from rpkit.cli import _tls_certificates, main
from rpkit.sandbox import env_block
from rpkit.sandbox.admin_client import AdminCallError, call_admin
from rpkit.sandbox.tls import TLS_CERTIFICATES, WRONG_NAME
from rpkit.testing import SandboxHandle, sandbox_server


@pytest.fixture(scope="module")
def _tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with sandbox_server(tmp_path_factory.mktemp("tls"), tls=True) as handle:
        yield handle


@pytest.fixture
def tls_sandbox(_tls_sandbox: SandboxHandle) -> SandboxHandle:
    _tls_sandbox.reset()
    return _tls_sandbox


def _verify_code(handle: SandboxHandle, host: str = "127.0.0.1") -> int | None:
    """Handshake as a client trusting the sandbox CA; the OpenSSL verify code, or None."""
    context = ssl.create_default_context(cafile=handle.ca_bundle)
    with socket.create_connection(("127.0.0.1", handle.server.port), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=host):
                return None
        except ssl.SSLCertVerificationError as err:
            return int(err.verify_code)


def test_serves_https_with_the_private_ca_and_prints_it(tls_sandbox: SandboxHandle) -> None:
    """Discovery answers over https trusted by the CA in the env block; URLs are https."""
    env = env_block(tls_sandbox.state)
    assert env["RPKIT_CA_BUNDLE"] == str(Path(tls_sandbox.ca_bundle or "").resolve())
    assert env["RPKIT_OIDC_ISSUER"].startswith("https://127.0.0.1:")
    document = requests.get(
        tls_sandbox.urls["discovery"], verify=env["RPKIT_CA_BUNDLE"], timeout=5
    ).json()
    assert document["issuer"] == env["RPKIT_OIDC_ISSUER"]
    assert document["token_endpoint"].startswith("https://")
    assert f"RPKIT_CA_BUNDLE={env['RPKIT_CA_BUNDLE']}" in tls_sandbox.server.banner()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_sandbox.urls["discovery"], timeout=5)  # system trust: unknown CA


@pytest.mark.parametrize(
    ("certificate", "verify_code"),
    [
        ("expired", 10),  # X509_V_ERR_CERT_HAS_EXPIRED
        ("wrong_name", 64),  # X509_V_ERR_IP_ADDRESS_MISMATCH (client asked for an IP)
        ("unknown_ca", 20),  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        ("self_signed", 18),  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        ("expiring", None),  # still valid, only close to expiry
        ("valid", None),
    ],
)
def test_tls_faults_fail_verification_with_their_reason(
    tls_sandbox: SandboxHandle, certificate: str, verify_code: int | None
) -> None:
    """Each TLS fault makes a client that trusts the sandbox CA fail for its own reason."""
    tls_sandbox.serve_tls_certificate(certificate)
    assert _verify_code(tls_sandbox) == verify_code
    assert tls_sandbox.admin("GET", "tls")["certificate"] == certificate


def test_wrong_name_certificate_names_another_host(tls_sandbox: SandboxHandle) -> None:
    """The wrong-name certificate fails a client asking for localhost too (hostname mismatch)."""
    tls_sandbox.serve_tls_certificate("wrong_name")
    assert _verify_code(tls_sandbox, host="localhost") == 62  # X509_V_ERR_HOSTNAME_MISMATCH
    assert WRONG_NAME.endswith(".invalid")


def test_reset_serves_the_valid_certificate_again(tls_sandbox: SandboxHandle) -> None:
    """A reset ends TLS faults like every other fault."""
    tls_sandbox.serve_tls_certificate("expired")
    tls_sandbox.reset()
    assert _verify_code(tls_sandbox) is None


def test_unknown_certificate_kind_is_a_400(tls_sandbox: SandboxHandle) -> None:
    """The admin API refuses a certificate kind it does not know."""
    with pytest.raises(AdminCallError, match="400"):
        tls_sandbox.serve_tls_certificate("revoked")


def test_admin_client_refuses_a_certificate_it_has_not_pinned(tls_sandbox: SandboxHandle) -> None:
    """The admin token is never sent to a server whose certificate is not the sandbox's own."""
    with pytest.raises(AdminCallError, match="does not hold"):
        call_admin(tls_sandbox.local_url, "tls", token=tls_sandbox.admin_token, pins={"0" * 64})
    with pytest.raises(AdminCallError, match="no pinned certificate"):
        call_admin(tls_sandbox.local_url, "tls", token=tls_sandbox.admin_token)


def test_date_header_follows_the_sandbox_clock(tls_sandbox: SandboxHandle) -> None:
    """A shifted sandbox clock shows in the HTTP Date header (how an RP measures skew)."""
    from email.utils import parsedate_to_datetime

    url = tls_sandbox.urls["discovery"]
    before = parsedate_to_datetime(
        requests.get(url, verify=tls_sandbox.ca_bundle, timeout=5).headers["Date"]
    )
    tls_sandbox.set_clock_offset(300)
    after = parsedate_to_datetime(
        requests.get(url, verify=tls_sandbox.ca_bundle, timeout=5).headers["Date"]
    )
    assert 295 <= (after - before).total_seconds() <= 310


def test_a_stalled_handshake_does_not_block_other_clients(tls_sandbox: SandboxHandle) -> None:
    """A client that connects and sends nothing does not stop the server answering others."""
    with socket.create_connection(("127.0.0.1", tls_sandbox.server.port), timeout=5):
        response = requests.get(
            tls_sandbox.urls["discovery"], verify=tls_sandbox.ca_bundle, timeout=5
        )
        assert response.status_code == 200


def test_ca_and_certificate_are_kept_across_restarts(tmp_path: Path) -> None:
    """A restart reuses the CA and the server certificate; new names reissue only the latter."""
    with sandbox_server(tmp_path, tls=True) as first:
        ca = Path(first.ca_bundle or "").read_bytes()
        cert = (tmp_path / "tls" / "server.crt").read_bytes()
    with sandbox_server(tmp_path, tls=True) as second:
        assert Path(second.ca_bundle or "").read_bytes() == ca
        assert (tmp_path / "tls" / "server.crt").read_bytes() == cert
        assert oct((tmp_path / "tls" / "ca.key").stat().st_mode & 0o777) == "0o600"
    with sandbox_server(tmp_path, tls=True, tls_hostnames=("localhost",)) as third:
        assert Path(third.ca_bundle or "").read_bytes() == ca
        assert (tmp_path / "tls" / "server.crt").read_bytes() != cert
        assert urlsplit(third.base_url).hostname == "localhost"
        assert _verify_code(third, host="localhost") is None
        assert _verify_code(third, host="127.0.0.1") == 64  # the IP is not on it any more


def test_cli_tls_control_works_while_a_fault_is_on(
    tls_sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rpkit sandbox tls KIND` switches the certificate over https, pinned by the data dir."""
    data_dir = str(tls_sandbox.server.config.data_dir)
    common = ["--url", tls_sandbox.local_url, "--data-dir", data_dir]
    common += ["--admin-token", tls_sandbox.admin_token]
    assert main(["sandbox", "tls", "expired", *common]) == 0
    assert _verify_code(tls_sandbox) == 10
    assert main(["sandbox", "tls", "valid", *common]) == 0
    assert _verify_code(tls_sandbox) is None
    assert '"certificate": "valid"' in capsys.readouterr().out


def test_cli_lists_every_certificate_kind() -> None:
    """The CLI's choices are the sandbox's certificate kinds."""
    assert _tls_certificates() == TLS_CERTIFICATES


def test_hostname_without_tls_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`--hostname` only makes sense with `--tls`."""
    assert main(["sandbox", "--hostname", "ship.local", "--port", "0"]) == 2
    assert "--tls" in capsys.readouterr().err


def test_bad_hostname_is_refused(tmp_path: Path) -> None:
    """A certificate name that is neither a DNS name nor an IP is a configuration error."""
    from rpkit.errors import ConfigurationError
    from rpkit.sandbox import SandboxConfig

    with pytest.raises(ConfigurationError, match="DNS name or an IP"):
        SandboxConfig(data_dir=tmp_path, tls=True, tls_hostnames=("ship/one",))
