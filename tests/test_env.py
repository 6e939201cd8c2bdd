"""Typo-proof settings: every RPKIT_* variable is known to some part of rpkit, or refused."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from rpkit.config import HttpConfig, OidcConfig, issuer_hint, ship_issuer
from rpkit.env import check_variables, find_unknown_variables, known_variables
from rpkit.errors import ConfigurationError, MetadataError, UnknownSettingError
from rpkit.oidc import OidcClient, parse_provider_metadata
from rpkit.saml import SamlConfig
from rpkit.scim import ScimConfig
from rpkit.testing import DEMO_CLIENT_ID, sandbox_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("RPKIT_CA_BUNDEL", "RPKIT_CA_BUNDLE"),
        ("RPKIT_REDIS_ULR", "RPKIT_REDIS_URL"),
        ("RPKIT_BASEURL", "RPKIT_BASE_URL"),
        ("RPKIT_SESSION_LIFETIM", "RPKIT_SESSION_LIFETIME"),
        ("RPKIT_OIDC_CLIENTID", "RPKIT_OIDC_CLIENT_ID"),
        ("RPKIT_SAML_IDP_METADATA_ULR", "RPKIT_SAML_IDP_METADATA_URL"),
        ("RPKIT_HTTP_TIMOUT", "RPKIT_HTTP_TIMEOUT"),
        ("RPKIT_SCIM_BASEURL", "RPKIT_SCIM_BASE_URL"),
        ("RPKIT_SANDBOX_PROT", "RPKIT_SANDBOX_PORT"),
    ],
)
def test_unknown_variable_is_refused_with_a_suggestion(typo: str, suggestion: str) -> None:
    """A misspelt RPKIT_* variable raises UnknownSettingError naming the likely variable."""
    with pytest.raises(UnknownSettingError) as exc:
        check_variables([typo, "RPKIT_BASE_URL", "HOME"])
    assert exc.value.unknown == {typo: suggestion}
    assert f'"{typo}"' in exc.value.message and f'"{suggestion}"' in exc.value.message


def test_a_name_like_nothing_gets_no_suggestion() -> None:
    """An unknown variable unlike any known one is still refused, without a guess."""
    assert [(u.name, u.suggestion) for u in find_unknown_variables(["RPKIT_XYZZY"])] == [
        ("RPKIT_XYZZY", None)
    ]


def test_sample_app_and_every_concern_are_known() -> None:
    """The sample app's, the extension's, OIDC's, SAML's, SCIM's and HTTP's variables."""
    known = known_variables()
    for name in (
        "RPKIT_SANDBOX",
        "RPKIT_SANDBOX_PORT",
        "RPKIT_SANDBOX_DATA_DIR",
        "RPKIT_SECRET_KEY",
        "RPKIT_CA_BUNDLE",
        "RPKIT_OIDC_SHIP_PORT",
        "RPKIT_SAML_AUTHN_BINDING",
        "RPKIT_SCIM_MAX_RETRIES",
        "RPKIT_HTTP_PINNED_CERT_SHA256",
        "RPKIT_OIDC_RESPONSE_MODE",
        "RPKIT_OIDC_SCOPES",
        "RPKIT_MEMORY_STORE_MAX_ENTRIES",
    ):
        assert name in known


def test_each_config_field_is_a_known_variable() -> None:
    """A new field is a known variable with no list to update: names come from the fields."""
    known = known_variables()
    for config in (OidcConfig, SamlConfig, ScimConfig, HttpConfig):
        for variable in config.env_names().values():
            assert variable in known


# Names that are prefixes ("RPKIT_OIDC_*") or app.config objects, not variables.
_NOT_VARIABLES = {"RPKIT_", "RPKIT_OIDC", "RPKIT_SAML", "RPKIT_STORE", "RPKIT_RANKS"}


def test_every_variable_the_project_mentions_is_known() -> None:
    """Code, README and guides name no RPKIT_* variable that rpkit would refuse."""
    known = known_variables()
    files = [
        *ROOT.glob("rpkit/**/*.py"),
        *ROOT.glob("example_app/**/*.py"),
        *ROOT.glob("docs/**/*.md"),
        ROOT / "README.md",
        ROOT / "rpkit/sandbox/README.md",
    ]
    strays = set()
    for path in files:
        for line in path.read_text().splitlines():
            if "typo" in line.lower() or "did you mean" in line.lower():
                continue  # examples of what is refused
            for name in re.findall(r"RPKIT_[A-Z0-9_]*[A-Z0-9]|RPKIT_(?![A-Z0-9])", line):
                if name not in known and name not in _NOT_VARIABLES:
                    if not any(k.startswith(name + "_") for k in known):
                        strays.add(f"{path.relative_to(ROOT)}: {name}")
    assert not strays


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RPKIT_OIDC_CLIENT_ID": "a", "RPKIT_OIDC_LEEWAY": "soon"}, "RPKIT_OIDC_LEEWAY"),
        ({"RPKIT_OIDC_CLIENT_ID": "a", "RPKIT_HTTP_TIMEOUT": "-1"}, "RPKIT_HTTP_TIMEOUT"),
        ({"RPKIT_OIDC_CLIENT_ID": "a", "RPKIT_CA_BUNDLE": "/nonexistent"}, "RPKIT_CA_BUNDLE"),
        (
            {"RPKIT_OIDC_CLIENT_ID": "a", "RPKIT_HTTP_CA_BUNDLE": "/nonexistent"},
            "RPKIT_HTTP_CA_BUNDLE",
        ),
        ({"RPKIT_OIDC_ISSUER": "ftp://x/auth", "RPKIT_OIDC_CLIENT_ID": "a"}, "RPKIT_OIDC_ISSUER"),
        ({"RPKIT_OIDC_CLIENT_SECRET": "s"}, "RPKIT_OIDC_CLIENT_ID"),
        ({"RPKIT_OIDC_CLIENT_ID": "a", "RPKIT_OIDC_SHIP_PORT": "8444"}, "RPKIT_OIDC_SHIP_HOST"),
    ],
    ids=["leeway", "http_timeout", "ca_bundle", "http_ca_bundle", "issuer", "no_client", "port"],
)
def test_oidc_messages_name_the_variable(env: dict[str, str], variable: str) -> None:
    """A bad value read from the environment is reported by its variable, not its field."""
    with pytest.raises(ConfigurationError) as exc:
        OidcConfig.from_env(env)
    assert f'"{variable}"' in exc.value.message


def test_saml_and_scim_messages_name_the_variable() -> None:
    """SAML and SCIM speak in variable names too."""
    with pytest.raises(ConfigurationError, match='"RPKIT_SAML_NAME_ID_FORMAT"'):
        SamlConfig.from_env(
            {
                "RPKIT_SAML_SP_ENTITY_ID": "https://sp.example/md",
                "RPKIT_SAML_ACS_URL": "https://sp.example/acs",
                "RPKIT_SAML_SIGN_REQUESTS": "false",
                "RPKIT_SAML_NAME_ID_FORMAT": "nickname",
            }
        )
    with pytest.raises(ConfigurationError, match='"RPKIT_SCIM_PAGE_SIZE"'):
        ScimConfig.from_env({"RPKIT_SCIM_PAGE_SIZE": "0"})


def test_ship_host_with_a_port_and_ship_port_is_refused() -> None:
    """host:8444 plus RPKIT_OIDC_SHIP_PORT=8444 would build https://host:8444:8444/auth."""
    env = {
        "RPKIT_OIDC_SHIP_HOST": "shipserver.local:8444",
        "RPKIT_OIDC_SHIP_PORT": "8444",
        "RPKIT_OIDC_CLIENT_ID": "a",
    }
    with pytest.raises(ConfigurationError) as exc:
        OidcConfig.from_env(env)
    assert '"RPKIT_OIDC_SHIP_HOST"' in exc.value.message
    assert '"RPKIT_OIDC_SHIP_PORT"' in exc.value.message


@pytest.mark.parametrize(
    ("host", "port", "issuer"),
    [
        ("shipserver.local:8444", None, "https://shipserver.local:8444/auth"),
        ("shipserver.local", 8444, "https://shipserver.local:8444/auth"),
        ("fe80::1", 8444, "https://[fe80::1]:8444/auth"),
        ("[fe80::1]:8444", None, "https://[fe80::1]:8444/auth"),
        ("10.0.0.5", None, "https://10.0.0.5/auth"),
    ],
)
def test_ship_port_given_once_is_accepted(host: str, port: int | None, issuer: str) -> None:
    """A port in the host or in RPKIT_OIDC_SHIP_PORT, one of them, builds the issuer."""
    assert ship_issuer(host, port=port) == issuer


@pytest.mark.parametrize("host", ["[fe80::1]:8444", "10.0.0.5:8444"])
def test_ipv6_or_ipv4_host_with_port_and_ship_port_is_refused(host: str) -> None:
    """The double-port check holds for IP literals too."""
    with pytest.raises(ConfigurationError, match='"ship_port"'):
        ship_issuer(host, port=8444)


def test_trailing_slash_gets_drop_the_trailing_slash() -> None:
    """An issuer with a trailing slash is told to drop it, not to set the ship host."""
    issuer = "https://10.0.0.5/auth"
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/connect/authorize",
        "token_endpoint": f"{issuer}/connect/token",
        "jwks_uri": f"{issuer}/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    with pytest.raises(MetadataError) as exc:
        parse_provider_metadata(
            document, expected_issuer=issuer + "/", http=HttpConfig(), ship_hint=True
        )
    assert "drop the trailing slash (RPKIT_OIDC_ISSUER=https://10.0.0.5/auth)" in str(exc.value)
    assert "SHIP_HOST" not in str(exc.value)


def test_trailing_slash_against_a_real_provider() -> None:
    """Through discovery from a provider on loopback, the same advice reaches the caller."""
    with sandbox_server() as sandbox:
        client = OidcClient(OidcConfig(issuer=sandbox.issuer + "/", client_id=DEMO_CLIENT_ID))
        with pytest.raises(MetadataError, match="drop the trailing slash"):
            client.metadata()


@pytest.mark.parametrize(
    ("issuer", "hint"),
    [
        ("https://crew.dualog.com", "https://crew.dualog.com/auth"),
        ("https://crew.dualog.com/", "https://crew.dualog.com/auth"),
        ("https://apps.dualog.com/connect", "https://apps.dualog.com/auth"),
        ("https://crew.dualog.com/auth", None),
        ("https://idp.example", None),
    ],
)
def test_dualog_host_without_auth_gets_a_hint(issuer: str, hint: str | None) -> None:
    """A Dualog host whose issuer lacks /auth is pointed at the /auth issuer."""
    found = issuer_hint(issuer)
    assert (found is None) if hint is None else (found is not None and hint in found)


def test_dualog_hint_is_logged_at_start(caplog: pytest.LogCaptureFixture) -> None:
    """Building the config says so at once, with the variable to change."""
    with caplog.at_level(logging.WARNING, logger="rpkit.config"):
        OidcConfig(issuer="https://crew.dualog.com", client_id="a")
    assert any(
        "RPKIT_OIDC_ISSUER" in r.getMessage() and "https://crew.dualog.com/auth" in r.getMessage()
        for r in caplog.records
    )
