"""Provider configuration: presets, env loading, transport rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rpkit.config import DUALOG_CLOUD_ISSUER, HttpConfig, OidcConfig
from rpkit.errors import ConfigurationError, UnknownSettingError


def test_cloud_preset_uses_dualog_issuer() -> None:
    config = OidcConfig.cloud(client_id="app")
    assert config.issuer == "https://crew.dualog.com/auth"
    assert config.is_dualog_cloud
    assert config.scopes == ("openid", "profile", "email", "crew.public")
    assert config.requested_scopes == config.scopes  # offline_access only with refresh_tokens


@pytest.mark.parametrize(
    ("host", "port", "scheme", "issuer"),
    [
        ("shipserver.local", None, "https", "https://shipserver.local/auth"),
        ("10.0.0.5", 8443, "https", "https://10.0.0.5:8443/auth"),
        ("fd00::5", None, "https", "https://[fd00::5]/auth"),
        ("127.0.0.1", 8080, "http", "http://127.0.0.1:8080/auth"),
    ],
)
def test_ship_preset_builds_issuer_from_host(
    host: str, port: int | None, scheme: str, issuer: str
) -> None:
    assert OidcConfig.ship(host, port=port, scheme=scheme, client_id="a").issuer == issuer


def test_plain_http_refused_for_non_loopback_host() -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        OidcConfig.ship("10.0.0.5", scheme="http", client_id="a")


def test_plain_http_allowed_with_named_opt_in_and_warns() -> None:
    with pytest.warns(UserWarning, match="plain http"):
        config = OidcConfig.ship(
            "10.9.9.9",
            scheme="http",
            client_id="a",
            http=HttpConfig(allow_insecure_http=True),
        )
    assert config.issuer == "http://10.9.9.9/auth"


def test_from_env_reads_prefixed_variables() -> None:
    config = OidcConfig.from_env(
        {
            "RPKIT_OIDC_SHIP_HOST": "shipserver.local",
            "RPKIT_OIDC_CLIENT_ID": "bridge-app",
            "RPKIT_OIDC_CLIENT_SECRET": "s3cret",
            "RPKIT_OIDC_LEEWAY": "120",
            "RPKIT_OIDC_SCOPES": "openid email",
            "RPKIT_HTTP_TIMEOUT": "3",
            "RPKIT_BASE_URL": "http://127.0.0.1:5000",  # other concerns are not ours
        }
    )
    assert config.issuer == "https://shipserver.local/auth"
    assert config.leeway == timedelta(seconds=120)
    assert config.scopes == ("openid", "email")
    assert config.http.timeout == timedelta(seconds=3)
    assert "s3cret" not in repr(config)


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(UnknownSettingError) as exc:
        OidcConfig.from_env({"RPKIT_OIDC_CLIENT_ID": "a", "RPKIT_OIDC_CLIENTSECRET": "x"})
    assert exc.value.unknown == {"RPKIT_OIDC_CLIENTSECRET": "RPKIT_OIDC_CLIENT_SECRET"}


def test_unknown_mapping_key_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown OidcConfig setting"):
        OidcConfig.from_mapping({"client_id": "a", "clientsecret": "x"})


def test_missing_client_id_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="client_id"):
        OidcConfig.from_mapping({})


def test_alg_none_can_never_be_allowed() -> None:
    with pytest.raises(ConfigurationError, match="none"):
        OidcConfig.cloud(client_id="a", id_token_signing_algs=("RS256", "none"))


def test_hs256_requires_client_secret() -> None:
    with pytest.raises(ConfigurationError, match="client_secret"):
        OidcConfig.cloud(client_id="a", id_token_signing_algs=("HS256",))


def test_default_cloud_issuer_constant() -> None:
    assert OidcConfig.from_mapping({"client_id": "a"}).issuer == DUALOG_CLOUD_ISSUER


def test_bad_pin_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="64 hex"):
        HttpConfig(pinned_cert_sha256="abc")
