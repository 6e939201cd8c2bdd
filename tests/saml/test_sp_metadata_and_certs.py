"""SP metadata generation, key rollover, and the certificate generator."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from lxml import etree

from rpkit.saml import SamlConfig, ServiceProvider, generate_sp_certificate, load_idp_metadata
from rpkit.saml._gate import NS

from .idp import ACS_URL, LOGOUT_URL, NOW, SP_ENTITY_ID, TestIdp

MD = "urn:oasis:names:tc:SAML:2.0:metadata"


def test_generator_writes_key_and_cert(tmp_path: Path) -> None:
    """The generator writes a 0600 private key and a PEM certificate into the directory."""
    key, cert = generate_sp_certificate(tmp_path / "certs", key_size=2048)
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        generate_sp_certificate(tmp_path / "certs", key_size=2048)


def test_sp_metadata_lists_acs_slo_and_both_rollover_certs(idp: TestIdp, tmp_path: Path) -> None:
    """During a rollover the metadata publishes the current and the next certificate."""
    key1, cert1 = generate_sp_certificate(tmp_path, name="current", key_size=2048)
    key2, cert2 = generate_sp_certificate(tmp_path, name="next", key_size=2048)
    config = SamlConfig(
        sp_entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL,
        logout_url=LOGOUT_URL,
        sp_key_file=str(key1),
        sp_cert_file=str(cert1),
        sp_next_key_file=str(key2),
        sp_next_cert_file=str(cert2),
        idp_entity_id=idp.entity_id,
    )
    metadata = load_idp_metadata(idp.metadata(), entity_id=idp.entity_id, now=NOW)
    sp = ServiceProvider(config, metadata=metadata, clock=lambda: NOW)
    root = etree.fromstring(sp.sp_metadata())
    assert root.get("entityID") == SP_ENTITY_ID
    ns = {"md": MD, **NS}
    acs = root.find("md:SPSSODescriptor/md:AssertionConsumerService", ns)
    assert acs is not None and acs.get("Location") == ACS_URL
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    slo = root.findall("md:SPSSODescriptor/md:SingleLogoutService", ns)
    assert {s.get("Location") for s in slo} == {LOGOUT_URL}
    certs = {(c.text or "").strip() for c in root.iterfind(".//ds:X509Certificate", ns)}
    assert len(certs) == 2
    descriptor = root.find("md:SPSSODescriptor", ns)
    assert descriptor is not None and descriptor.get("AuthnRequestsSigned") == "true"
    assert descriptor.get("WantAssertionsSigned") == "true"


def test_demo_key_pair_is_shipped_and_labelled() -> None:
    """certs/ ships a throwaway demo pair with a README that says so."""
    root = Path(__file__).resolve().parents[2] / "certs"
    assert (root / "demo-sp.key").is_file() and (root / "demo-sp.crt").is_file()
    assert "throwaway" in (root / "README.md").read_text()


@pytest.mark.parametrize(
    ("setting", "published"),
    [
        (None, "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
        ("persistent", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"),
    ],
)
def test_sp_metadata_name_id_format_and_signed_requests(
    sp_files: tuple[str, str], setting: str | None, published: str
) -> None:
    """Metadata says AuthnRequestsSigned and the NameID format (unspecified when none is set)."""
    config = SamlConfig(
        sp_entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL,
        sp_key_file=sp_files[0],
        sp_cert_file=sp_files[1],
        name_id_format=setting,
    )
    root = etree.fromstring(ServiceProvider(config, metadata=None).sp_metadata())
    descriptor = root.find(f"{{{MD}}}SPSSODescriptor")
    assert descriptor is not None and descriptor.get("AuthnRequestsSigned") == "true"
    assert [f.text for f in descriptor.iterfind(f"{{{MD}}}NameIDFormat")] == [published]
