"""Settings at start: unknown variables, lone protocol settings and no provider at all."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from flask import Flask

from example_app import create_app
from example_app.sandbox import sandbox_url
from rpkit.errors import ConfigurationError, UnknownSettingError
from rpkit.flask import Rpkit
from rpkit.web.settings import Settings

from .conftest import Stack
from .helpers import app_config

ISSUE_TYPOS = [
    ("RPKIT_CA_BUNDEL", "RPKIT_CA_BUNDLE"),
    ("RPKIT_REDIS_ULR", "RPKIT_REDIS_URL"),
    ("RPKIT_BASEURL", "RPKIT_BASE_URL"),
    ("RPKIT_SESSION_LIFETIM", "RPKIT_SESSION_LIFETIME"),
    ("RPKIT_OIDC_CLIENTID", "RPKIT_OIDC_CLIENT_ID"),
    ("RPKIT_SAML_IDP_METADATA_ULR", "RPKIT_SAML_IDP_METADATA_URL"),
]


def _free_base_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(("typo", "suggestion"), ISSUE_TYPOS)
def test_typo_fails_at_init_app(typo: str, suggestion: str) -> None:
    """Each typo from the attack pass is refused at start with its suggestion."""
    with pytest.raises(UnknownSettingError) as exc:
        Settings.from_config({}, environ={typo: "x"})
    assert exc.value.unknown == {typo: suggestion}


@pytest.mark.parametrize(("typo", "suggestion"), ISSUE_TYPOS)
def test_typo_in_app_config_fails_too(typo: str, suggestion: str) -> None:
    """A string RPKIT_* key in app.config is checked like the environment."""
    app = Flask("typo")
    app.config[typo] = "x"
    with pytest.raises(UnknownSettingError) as exc:
        Rpkit(app)
    assert exc.value.unknown == {typo: suggestion}


def test_sample_app_refuses_a_typo_before_starting_the_sandbox(tmp_path: Path) -> None:
    """A lone RPKIT_OIDC_CLIENTID is refused; it does not read as "no provider"."""
    base_url = _free_base_url()
    with pytest.raises(UnknownSettingError) as exc:
        create_app(
            {
                "RPKIT_BASE_URL": base_url,
                "RPKIT_OIDC_CLIENTID": "bridge-app",
                "RPKIT_SANDBOX_PORT": "0",
                "RPKIT_SANDBOX_DATA_DIR": str(tmp_path),
            }
        )
    assert exc.value.unknown == {"RPKIT_OIDC_CLIENTID": "RPKIT_OIDC_CLIENT_ID"}
    assert sandbox_url(base_url) is None


def test_sample_app_variables_are_known() -> None:
    """RPKIT_SANDBOX* (README) are settings of the sample app, not typos."""
    settings = Settings.from_config(
        {},
        environ={"RPKIT_SANDBOX": "off", "RPKIT_SANDBOX_PORT": "0", "RPKIT_SANDBOX_DATA_DIR": "x"},
    )
    assert settings.oidc is None


def test_lone_oidc_setting_is_not_silently_ignored() -> None:
    """An OIDC setting without a client id names the variable to add."""
    with pytest.raises(ConfigurationError, match='"RPKIT_OIDC_CLIENT_ID" is required'):
        Settings.from_config({}, environ={"RPKIT_OIDC_CLIENT_SECRET": "s3cret"})


def test_lone_saml_setting_names_the_metadata_variables() -> None:
    """A SAML setting without IdP metadata is refused instead of SAML silently off."""
    with pytest.raises(ConfigurationError) as exc:
        Settings.from_config({}, environ={"RPKIT_SAML_ALLOW_SHA1": "false"})
    assert "RPKIT_SAML_ALLOW_SHA1" in exc.value.message
    assert '"RPKIT_SAML_IDP_METADATA_URL"' in exc.value.message


def test_ship_host_and_port_conflict_through_the_extension() -> None:
    """RPKIT_OIDC_SHIP_HOST=host:8444 plus RPKIT_OIDC_SHIP_PORT=8444 fails at start."""
    env = {
        "RPKIT_OIDC_SHIP_HOST": "shipserver.local:8444",
        "RPKIT_OIDC_SHIP_PORT": "8444",
        "RPKIT_OIDC_CLIENT_ID": "engine-log",
    }
    with pytest.raises(ConfigurationError, match='"RPKIT_OIDC_SHIP_PORT"'):
        Settings.from_config({}, environ=env)


def test_no_provider_at_all_is_said_at_start(caplog: pytest.LogCaptureFixture) -> None:
    """The extension with no identity provider starts, and says nobody can sign in."""
    app = Flask("nobody")
    app.config["RPKIT_BASE_URL"] = "https://app.example.com"
    with caplog.at_level(logging.WARNING, logger="rpkit.flask"):
        Rpkit(app)
    messages = [r.getMessage() for r in caplog.records if r.name == "rpkit.flask"]
    assert any("no identity provider is configured" in m for m in messages)


def test_sample_app_logs_each_protocols_provider(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """The sample app logs the issuer and the metadata each protocol signs in with."""
    with caplog.at_level(logging.INFO, logger="example_app"):
        create_app(app_config(_free_base_url(), stack.sandbox))
    messages = [r.getMessage() for r in caplog.records if r.name == "example_app"]
    assert f"sample app: OIDC signs in with {stack.sandbox.issuer}" in messages
    saml = stack.sandbox.urls["saml_metadata"]
    assert f"sample app: SAML signs in with {saml}" in messages


def test_sample_app_falls_back_to_the_sandbox_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No provider: the embedded sandbox serves both protocols, and the log says so."""
    base_url = _free_base_url()
    config = {
        "RPKIT_BASE_URL": base_url,
        "RPKIT_SANDBOX_PORT": "0",
        "RPKIT_SANDBOX_DATA_DIR": str(tmp_path),
    }
    with caplog.at_level(logging.INFO, logger="example_app"):
        create_app(config)
    messages = [r.getMessage() for r in caplog.records if r.name == "example_app"]
    sandbox = sandbox_url(base_url)
    assert sandbox is not None
    assert any(
        m.startswith("sample app: OIDC signs in with " + sandbox) and "embedded sandbox" in m
        for m in messages
    )
    assert any(m.startswith("sample app: SAML signs in with " + sandbox) for m in messages)
