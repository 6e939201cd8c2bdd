"""SamlConfig: defaults, env loading, typos and unsafe settings refused at startup."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rpkit.errors import ConfigurationError
from rpkit.saml import DUALOG_SAML_METADATA_URL, SamlConfig

BASE = {"sp_entity_id": "https://app.test/saml", "acs_url": "https://app.test/acs"}


def test_defaults_point_at_dualog() -> None:
    """Without IdP settings the SP trusts Dualog's entity ID and metadata URL."""
    config = SamlConfig.from_mapping({**BASE, "sign_requests": False})
    assert config.idp_entity_id == "https://crew.dualog.com/auth"
    assert config.idp_metadata_url == DUALOG_SAML_METADATA_URL
    assert config.name_id_format is None  # no NameIDPolicy: the IdP's registered format
    assert config.clock_skew == timedelta(seconds=90)
    assert not config.allow_sha1 and not config.allow_unsolicited


def test_from_env_reads_rpkit_saml_variables(sp_files: tuple[str, str]) -> None:
    """RPKIT_SAML_* map to fields; durations are seconds; the mapping has an env form."""
    env = {
        "RPKIT_SAML_SP_ENTITY_ID": "https://app.test/saml",
        "RPKIT_SAML_ACS_URL": "https://app.test/acs",
        "RPKIT_SAML_SP_KEY_FILE": sp_files[0],
        "RPKIT_SAML_SP_CERT_FILE": sp_files[1],
        "RPKIT_SAML_IDP_METADATA_URL": "https://idp.test/md",
        "RPKIT_SAML_CLOCK_SKEW": "30",
        "RPKIT_SAML_NAME_ID_FORMAT": "email",
        "RPKIT_SAML_ATTRIBUTE_MAPPING": "rank=urn:x:rank|rank",
        "RPKIT_HTTP_TIMEOUT": "3",
    }
    config = SamlConfig.from_env(env)
    assert config.clock_skew == timedelta(seconds=30)
    assert config.attribute_mapping["rank"] == ("urn:x:rank", "rank")
    assert config.attribute_mapping["email"][0] == "email"
    assert config.http.timeout == timedelta(seconds=3)
    assert config.name_id_format.endswith("emailAddress")


def test_unknown_env_variable_raises() -> None:
    """A typo in an RPKIT_SAML_ variable is an error, not a silent default."""
    with pytest.raises(ConfigurationError):
        SamlConfig.from_env(
            {
                **{f"RPKIT_SAML_{k.upper()}": v for k, v in BASE.items()},
                "RPKIT_SAML_ALLOW_UNSOLICTED": "1",
            }
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"signature_algorithms": ("http://www.w3.org/2000/09/xmldsig#rsa-sha1",)},
        {"name_id_format": "nickname"},
        {"idp_metadata_url": "http://idp.example.com/md"},
        {"idp_metadata_url": "https://a/md", "idp_metadata_file": "/etc/hostname"},
        {"attribute_mapping": {"shoe_size": ("x",)}},
        {"sign_requests": True},
        {"acs_url": "/acs"},
    ],
    ids=[
        "sha1_without_allow",
        "bad_nameid",
        "plain_http",
        "url_and_file",
        "unknown_field",
        "sign_without_key",
        "relative_acs",
    ],
)
def test_unsafe_or_wrong_settings_raise(overrides: dict[str, object]) -> None:
    """Each bad setting raises ConfigurationError when the config is built."""
    values = {**BASE, "sign_requests": False, **overrides}
    with pytest.raises(ConfigurationError):
        SamlConfig.from_mapping(values)
