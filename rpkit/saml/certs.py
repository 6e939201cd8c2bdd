"""Generate the SP's signing/encryption key pair and self-signed certificate."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["generate_sp_certificate"]


def generate_sp_certificate(
    directory: str | os.PathLike[str] = "certs",
    *,
    common_name: str = "rpkit SAML SP",
    name: str = "sp",
    valid_for: timedelta = timedelta(days=3 * 365),
    key_size: int = 3072,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write ``<name>.key`` (mode 0600) and ``<name>.crt`` into ``directory``; return both paths.

    SAML metadata carries the certificate only as a key container, so a self-signed one is
    what IdPs expect. Existing files are kept unless ``overwrite``.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = target / f"{name}.key", target / f"{name}.crt"
    if not overwrite and (key_path.exists() or cert_path.exists()):
        raise FileExistsError(f"{key_path} or {cert_path} exists; pass overwrite=True")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path
