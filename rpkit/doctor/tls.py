"""``oidc.tls``: can this machine trust the identity server's certificate, and why not.

The handshake is made here rather than through ``requests`` so the check can name the
reason (expired, name or IP mismatch, unknown CA, self-signed) and read the certificate's
names and expiry even when it is not trusted, which is what the fix needs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..config import HttpConfig, is_loopback_host
from .report import CheckResult, Status, fail

__all__ = ["EXPIRY_WARNING", "check_tls"]

EXPIRY_WARNING = timedelta(days=30)

# OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h) -> reason.
_REASONS = {
    9: "not_yet_valid",
    10: "expired",
    18: "self_signed",
    19: "self_signed",
    2: "unknown_ca",
    20: "unknown_ca",
    21: "unknown_ca",
    62: "name_mismatch",
    64: "name_mismatch",
}


def _peer_certificate(host: str, port: int, timeout: float) -> x509.Certificate | None:
    """The server's certificate, read without verifying it (to describe what is wrong)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=_sni(host)) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    return x509.load_der_x509_certificate(der) if der else None


def _sni(host: str) -> str:
    return host.strip("[]")


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [
        *san.get_values_for_type(x509.DNSName),
        *map(str, san.get_values_for_type(x509.IPAddress)),
    ]


def _issuer_name(cert: x509.Certificate) -> str:
    names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.issuer.rfc4514_string()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _trust(http: HttpConfig) -> str:
    if http.pinned_cert_sha256:
        return f"the pinned certificate (SHA-256 {http.pinned_cert_sha256[:16]}...)"
    if http.ca_bundle:
        return f"RPKIT_CA_BUNDLE={http.ca_bundle}"
    return "the system trust store (no RPKIT_CA_BUNDLE)"


def _host_fix(host: str, names: list[str], port: int | None, ship: bool) -> str:
    """How to reach the server by a name its certificate carries."""
    usable = [n for n in names if not n.startswith("*")]
    if not usable:
        return "reissue the server certificate for the name or IP the app connects to"
    name = usable[0]
    shown = f"[{name}]" if ":" in name else name
    origin = f"{shown}:{port}" if port else shown
    if ship:
        step = f"set RPKIT_OIDC_SHIP_HOST={name}"
    else:
        step = f"set RPKIT_OIDC_ISSUER=https://{origin}/auth"
    if not _is_ip(name):
        step += f" (and make {name} resolve on this network)"
    return f"{step}, or reissue the certificate to include {host}"


def check_tls(
    issuer: str, http: HttpConfig, *, ship: bool, now: datetime | None = None
) -> CheckResult:
    """Handshake with the issuer's host as the app would and report trust and expiry."""
    now = now or datetime.now(UTC)
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    if parts.scheme != "https":
        where = "loopback" if is_loopback_host(host) else "a non-loopback host"
        status: Status = "ok" if is_loopback_host(host) else "warn"
        return CheckResult(
            id="oidc.tls",
            status=status,
            message=f"the issuer uses plain http on {where}: no TLS to check",
            fix="" if status == "ok" else "serve the identity server over https",
        )
    port = parts.port or 443
    timeout = http.connect_timeout.total_seconds()
    trust = _trust(http)
    if http.pinned_cert_sha256:
        cert = _peer_certificate(host, port, timeout)
        if cert is None:
            return _unreachable(host, port)
        from cryptography.hazmat.primitives import serialization

        actual = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        if actual != http.pinned_cert_sha256:
            return fail(
                "oidc.tls",
                f"{host}:{port} presented a certificate (SHA-256 {actual}) that is not "
                f"the pinned one",
                fix="pin the server's current certificate (RPKIT_HTTP_PINNED_CERT_FILE or "
                "RPKIT_HTTP_PINNED_CERT_SHA256), or use RPKIT_CA_BUNDLE with its CA",
            )
        return _expiry(cert, host, port, trust, now)
    context = ssl.create_default_context(cafile=http.ca_bundle)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=_sni(host)) as tls:
                der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as err:
        return _untrusted(err, host, port, trust, http, ship=ship, now=now)
    except ssl.SSLError as err:
        return fail(
            "oidc.tls",
            f"TLS with {host}:{port} failed ({err.reason or type(err).__name__})",
            fix="check that the issuer's port serves https",
        )
    except OSError:
        return _unreachable(host, port)
    assert der is not None
    return _expiry(x509.load_der_x509_certificate(der), host, port, trust, now)


def _unreachable(host: str, port: int) -> CheckResult:
    return fail(
        "oidc.tls",
        f"{host}:{port} is unreachable (refused, unknown host or timed out)",
        fix="check the issuer (RPKIT_OIDC_ISSUER or RPKIT_OIDC_SHIP_HOST) and the network "
        "path from this machine to it",
    )


def _expiry(cert: x509.Certificate, host: str, port: int, trust: str, now: datetime) -> CheckResult:
    not_after = cert.not_valid_after_utc
    left = not_after - now
    text = (
        f"{host}:{port} trusted through {trust}; certificate for "
        f"{', '.join(_names(cert)) or '(no names)'} from {_issuer_name(cert)}, expires "
        f"{not_after:%Y-%m-%d} ({left.days} days)"
    )
    if left < EXPIRY_WARNING:
        return CheckResult(
            id="oidc.tls",
            status="warn",
            message=text,
            fix="renew the identity server's certificate before it expires",
        )
    return CheckResult(id="oidc.tls", status="ok", message=text)


def _untrusted(
    err: ssl.SSLCertVerificationError,
    host: str,
    port: int,
    trust: str,
    http: HttpConfig,
    *,
    ship: bool,
    now: datetime,
) -> CheckResult:
    reason = _REASONS.get(int(err.verify_code or 0), "untrusted")
    cert = _peer_certificate(host, port, http.connect_timeout.total_seconds())
    names = _names(cert) if cert is not None else []
    shown_names = ", ".join(names) or "no names"
    prefix = f"{host}:{port} is not trusted ({reason}): "
    if reason == "expired" and cert is not None:
        message = f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        fix = "renew the identity server's certificate (on a ship: the ship's IT or Dualog support)"
    elif reason == "not_yet_valid" and cert is not None:
        message = (
            f"the certificate is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
        fix = "check this machine's clock (NTP) and the server's"
    elif reason == "name_mismatch":
        what = "IP address" if _is_ip(host) else "host name"
        message = f"the certificate is for {shown_names}, not the {what} {host}"
        fix = _host_fix(host, names, parts_port(port), ship)
    elif reason == "self_signed":
        message = f"the certificate is self-signed (for {shown_names}) and {trust} does not hold it"
        fingerprint = ""
        if cert is not None:
            from cryptography.hazmat.primitives import serialization

            der = cert.public_bytes(serialization.Encoding.DER)
            fingerprint = hashlib.sha256(der).hexdigest()
        fix = (
            "put the server's certificate in RPKIT_CA_BUNDLE, or pin it: "
            f"RPKIT_HTTP_PINNED_CERT_SHA256={fingerprint}"
        )
    elif reason == "unknown_ca":
        issuer = _issuer_name(cert) if cert is not None else "an unknown CA"
        message = f'the certificate is issued by "{issuer}", which {trust} does not hold'
        fix = (
            "set RPKIT_CA_BUNDLE to the PEM file of the CA that issued the server certificate "
            "(on a ship: the shipowner's private CA)"
        )
    else:
        message = str(err.verify_message or err)
        fix = "check RPKIT_CA_BUNDLE and the server's certificate"
    return fail("oidc.tls", prefix + message, fix=fix)


def parts_port(port: int) -> int | None:
    """The port to write into a URL (None for https's default)."""
    return None if port == 443 else port
