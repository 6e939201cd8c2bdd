"""Extension settings from app.config and the RPKIT_* environment; bad config fails at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from rpkit.errors import ConfigurationError
from rpkit.flask import Rpkit, rpkit_state
from rpkit.store import MemoryStore
from rpkit.web.settings import Settings, idp_entity_id_from

from .helpers import SP_CERT, SP_KEY

IDP_METADATA = """<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
 entityID="https://ship.example/auth"><md:IDPSSODescriptor
 protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"""


def test_defaults_without_providers() -> None:
    """No provider variables: no protocol, memory store, loopback base URL, lax cookies."""
    settings = Settings.from_config({}, environ={})
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.oidc is None and settings.saml is None
    assert isinstance(settings.store, MemoryStore)
    assert not settings.secure_cookies


def test_memory_store_cap_and_one_process_warning(caplog: pytest.LogCaptureFixture) -> None:
    """RPKIT_MEMORY_STORE_MAX_ENTRIES caps the memory store; the start says: one process only."""
    with caplog.at_level("WARNING", logger="rpkit.flask"):
        settings = Settings.from_config({}, environ={"RPKIT_MEMORY_STORE_MAX_ENTRIES": "500"})
    assert isinstance(settings.store, MemoryStore) and settings.store.max_entries == 500
    assert "ONE process only" in caplog.text and "RPKIT_REDIS_URL" in caplog.text


def test_oidc_from_env_derives_urls() -> None:
    """Redirect and post-logout URIs follow RPKIT_BASE_URL; the cloud issuer is the default."""
    env = {
        "RPKIT_BASE_URL": "https://crew-app.example.com/",
        "RPKIT_OIDC_CLIENT_ID": "bridge-app",
        "RPKIT_OIDC_CLIENT_SECRET": "s3cret",
    }
    settings = Settings.from_config({}, environ=env)
    assert settings.oidc is not None
    assert settings.oidc.issuer == "https://crew.dualog.com/auth"
    assert settings.oidc.redirect_uri == "https://crew-app.example.com/auth/oidc/callback"
    assert settings.oidc.post_logout_redirect_uri == "https://crew-app.example.com/"
    assert settings.secure_cookies


def test_ship_host() -> None:
    """RPKIT_OIDC_SHIP_HOST names a ship-side server: issuer https://<host>/auth."""
    env = {"RPKIT_OIDC_SHIP_HOST": "10.0.0.5", "RPKIT_OIDC_CLIENT_ID": "engine-log"}
    settings = Settings.from_config({}, environ=env)
    assert settings.oidc is not None and settings.oidc.issuer == "https://10.0.0.5/auth"


def test_app_config_overrides_env() -> None:
    """app.config wins over the environment; None removes a variable."""
    env = {"RPKIT_BASE_URL": "https://a.example", "RPKIT_OIDC_CLIENT_ID": "x"}
    settings = Settings.from_config(
        {"RPKIT_BASE_URL": "https://b.example", "RPKIT_OIDC_CLIENT_ID": None}, environ=env
    )
    assert settings.base_url == "https://b.example" and settings.oidc is None


@pytest.mark.parametrize(
    "env",
    [
        {"RPKIT_BASE_URL": "http://app.example.com"},
        {"RPKIT_BASE_URL": "ftp://127.0.0.1"},
        {"RPKIT_BASE_URL": "https://app.example.com/?x=1"},
        {"RPKIT_OIDC_CLIENT_ID": "x", "RPKIT_OIDC_CLIENT_SECRTE": "typo"},
        {"RPKIT_OIDC_ISSUER": "http://dualog.example/auth", "RPKIT_OIDC_CLIENT_ID": "x"},
        {
            "RPKIT_BASE_URL": "https://app.example.com",
            "RPKIT_SAML_IDP_METADATA_URL": "https://crew.dualog.com/auth/saml/metadata",
        },
        {"RPKIT_SESSION_LIFETIME": "eight hours"},
        {"RPKIT_MEMORY_STORE_MAX_ENTRIES": "lots"},
        {"RPKIT_MEMORY_STORE_MAX_ENTRIES": "0"},
        {"RPKIT_ASGI_THREADS": "many"},
        {"RPKIT_ASGI_THREADS": "0"},
    ],
    ids=[
        "http_base_off_loopback",
        "base_not_http",
        "base_with_query",
        "oidc_typo",
        "http_issuer_off_loopback",
        "saml_no_sp_key_off_loopback",
        "bad_lifetime",
        "memory_cap_not_a_number",
        "memory_cap_zero",
        "asgi_threads_not_a_number",
        "asgi_threads_zero",
    ],
)
def test_bad_configuration_fails_at_start(env: dict[str, str]) -> None:
    """A bad setting raises ConfigurationError at init_app, not on the first request."""
    with pytest.raises(ConfigurationError):
        Settings.from_config({}, environ=env)


def test_saml_defaults_from_base_url() -> None:
    """Only the metadata URL: SP entity ID, ACS and SLO URLs come from RPKIT_BASE_URL."""
    env = {
        "RPKIT_BASE_URL": "https://crew-app.example.com",
        "RPKIT_SAML_IDP_METADATA_URL": "https://crew.dualog.com/auth/saml/metadata",
        "RPKIT_SAML_SP_KEY_FILE": str(SP_KEY),
        "RPKIT_SAML_SP_CERT_FILE": str(SP_CERT),
    }
    saml = Settings.from_config({}, environ=env).saml
    assert saml.sp_entity_id == "https://crew-app.example.com/auth/saml/metadata"
    assert saml.acs_url == "https://crew-app.example.com/auth/saml/acs"
    assert saml.logout_url == "https://crew-app.example.com/auth/saml/slo"
    assert saml.idp_entity_id == "https://crew.dualog.com/auth"


def test_foreign_metadata_url_alone_starts_without_network() -> None:
    """A metadata URL not laid out like Dualog's: the entity ID is left to the metadata."""
    env = {"RPKIT_SAML_IDP_METADATA_URL": "https://idp.example/saml2/idp/metadata.php"}
    saml = Settings.from_config({}, environ=env).saml
    assert saml.idp_entity_id is None
    assert saml.idp_metadata_url == env["RPKIT_SAML_IDP_METADATA_URL"]


def test_idp_entity_id_from_metadata_file(tmp_path: Path) -> None:
    """A metadata file names the IdP entity ID of its single EntityDescriptor."""
    path = tmp_path / "idp.xml"
    path.write_text(IDP_METADATA)
    assert idp_entity_id_from({"RPKIT_SAML_IDP_METADATA_FILE": str(path)}) == (
        "https://ship.example/auth"
    )
    path.write_text(
        f'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        f"{IDP_METADATA}{IDP_METADATA}</md:EntitiesDescriptor>"
    )
    with pytest.raises(ConfigurationError):
        idp_entity_id_from({"RPKIT_SAML_IDP_METADATA_FILE": str(path)})


def test_init_app_pattern() -> None:
    """Rpkit() + init_app keeps its state in app.extensions, one per app."""
    ext = Rpkit()
    first, second = Flask("first"), Flask("second")
    first.config["RPKIT_BASE_URL"] = "https://one.example"
    second.config["RPKIT_BASE_URL"] = "https://two.example"
    ext.init_app(first)
    ext.init_app(second)
    assert rpkit_state(first).settings.base_url == "https://one.example"
    assert rpkit_state(second).settings.base_url == "https://two.example"
    assert first.extensions["rpkit"] is not second.extensions["rpkit"]
    assert rpkit_state(first).session_cookie == "__Host-rpkit_session"
