"""Django is configured once per process (its settings are global): as the sample app
configures it, so the contract suite's Django app and these tests share one setup; each
test changes what it needs with ``override_settings``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.flask.helpers import SP_CERT, SP_KEY

OIDC = {
    "RPKIT_OIDC_ISSUER": "https://crew.dualog.com/auth",
    "RPKIT_OIDC_CLIENT_ID": "my-app",
    "RPKIT_OIDC_CLIENT_SECRET": "throwaway-test-secret",
}
SAML = {
    "RPKIT_SAML_IDP_METADATA_URL": "https://crew.dualog.com/auth/saml/metadata",
    "RPKIT_SAML_SP_KEY_FILE": str(SP_KEY),
    "RPKIT_SAML_SP_CERT_FILE": str(SP_CERT),
}
BASE = {"RPKIT_BASE_URL": "http://127.0.0.1:8000", "RPKIT_SANDBOX": "off"}


@pytest.fixture(scope="session")
def django_configured() -> None:
    import django
    from django.conf import settings

    from example_app.django import django_settings

    if not settings.configured:
        settings.configure(**django_settings({**BASE, **OIDC}, BASE["RPKIT_BASE_URL"], None))
    django.setup()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in [k for k in os.environ if k.startswith("RPKIT_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def rpkit_settings(django_configured: None) -> Iterator[Any]:
    """``rpkit_settings(RPKIT={...}, TEMPLATES=[...])``: Django settings for one test."""
    from django.test import override_settings

    overrides: list[Any] = []

    def apply(**changes: Any) -> None:
        change = override_settings(ALLOWED_HOSTS=["testserver"], **changes)
        change.enable()
        overrides.append(change)

    yield apply
    for change in reversed(overrides):
        change.disable()
