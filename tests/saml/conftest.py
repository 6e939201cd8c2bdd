"""Fixtures: a test IdP, SP key files in a tmp dir, and a ServiceProvider wired to both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rpkit.saml import PendingRequest, SamlConfig, ServiceProvider, load_idp_metadata

from .idp import ACS_URL, LOGOUT_URL, NOW, SP_ENTITY_ID, TestIdp, make_key_pair

_IDP = TestIdp()
_SP_KEYS = make_key_pair("rpkit test SP (throwaway)")
_ATTACKER = TestIdp()


@pytest.fixture(scope="session")
def idp() -> TestIdp:
    return _IDP


@pytest.fixture(scope="session")
def attacker() -> TestIdp:
    """Another IdP with its own key, for re-signing attacks."""
    return _ATTACKER


@pytest.fixture
def sp_files(tmp_path: Path) -> tuple[str, str]:
    key, cert = tmp_path / "sp.key", tmp_path / "sp.crt"
    key.write_bytes(_SP_KEYS[0])
    cert.write_bytes(_SP_KEYS[1])
    return str(key), str(cert)


@pytest.fixture
def sp_cert_pem() -> bytes:
    return _SP_KEYS[1]


@pytest.fixture
def make_config(sp_files: tuple[str, str], idp: TestIdp) -> Callable[..., SamlConfig]:
    def make(**overrides: Any) -> SamlConfig:
        values: dict[str, Any] = {
            "sp_entity_id": SP_ENTITY_ID,
            "acs_url": ACS_URL,
            "logout_url": LOGOUT_URL,
            "sp_key_file": sp_files[0],
            "sp_cert_file": sp_files[1],
            "idp_entity_id": idp.entity_id,
            "idp_metadata_url": "https://idp.test/auth/saml/metadata",
        }
        values.update(overrides)
        return SamlConfig(**values)

    return make


@pytest.fixture
def config(make_config: Callable[..., SamlConfig]) -> SamlConfig:
    return make_config()


@pytest.fixture
def make_sp(idp: TestIdp, make_config: Callable[..., SamlConfig]) -> Callable[..., ServiceProvider]:
    def make(**overrides: Any) -> ServiceProvider:
        config = make_config(**overrides)
        metadata = load_idp_metadata(idp.metadata(), entity_id=idp.entity_id, now=NOW)
        return ServiceProvider(config, metadata=metadata, clock=lambda: NOW)

    return make


@pytest.fixture
def sp(make_sp: Callable[..., ServiceProvider]) -> ServiceProvider:
    return make_sp()


@pytest.fixture
def pending() -> PendingRequest:
    return PendingRequest(
        request_id="_request1",
        relay_state="r" * 43,
        browser_hash="0" * 64,
        created_at=NOW,
    )
