"""A route of a protocol the app does not offer is a 404 "not configured", never a
``ConfigurationError`` (that one stops the app at start, and only there)."""

from __future__ import annotations

import pytest

from example_app import create_app
from rpkit.errors import ConfigurationError, NotConfiguredError
from rpkit.web.flow import WebState
from rpkit.web.settings import Settings

from .conftest import Stack


def test_an_oidc_route_of_a_saml_only_app_is_not_configured(stack: Stack) -> None:
    app = create_app(
        {"RPKIT_SANDBOX": "off", "RPKIT_SAML_IDP_METADATA_URL": stack.sandbox.urls["saml_metadata"]}
    )
    client = app.test_client()
    for path in ("/auth/login/oidc", "/auth/oidc/callback?state=x&code=y"):
        answer = client.get(path, headers={"Accept": "application/json"})
        assert answer.status_code == 404
        assert answer.json is not None
        assert answer.json["error"] == "not_configured"
        assert "OpenID Connect is not configured" in answer.json["message"]


def test_not_configured_is_not_a_configuration_error() -> None:
    """Code that catches ConfigurationError at start-up does not swallow a 404."""
    assert not issubclass(NotConfiguredError, ConfigurationError)
    with pytest.raises(NotConfiguredError):
        WebState(Settings.from_config({}, environ={})).require_oidc()
