"""The sample app on Django: the same routes and ``RPKIT_*`` contract as ``example_app``.

``create_app()`` reads ``config`` and the ``RPKIT_*`` environment, configures Django (one
app per process: Django's settings are global) and returns the WSGI application. With no
identity provider configured it starts the local sandbox (a fake Dualog) in-process.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rpkit.config import is_loopback_host
from rpkit.env import check_variables
from rpkit.errors import ConfigurationError
from rpkit.web.settings import DEFAULT_BASE_URL, collect_env

from ..sandbox import provider_configured, sandbox_env, sandbox_url

__all__ = ["create_app"]

log = logging.getLogger("example_app")

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def create_app(config: Mapping[str, Any] | None = None) -> Any:
    """Build the sample app; ``config`` overrides the environment (same ``RPKIT_*`` keys)."""
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    from rpkit.django.state import reset, rpkit_state

    values = dict(config or {})
    env = collect_env(values)
    # Before the sandbox decision: a typo (RPKIT_OIDC_CLIENTID) must not read as "no provider".
    check_variables(env)
    base_url = (env.get("RPKIT_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    sandbox: str | None = None
    if not provider_configured(env, values) and env.get("RPKIT_SANDBOX") != "off":
        values.update(sandbox_env(base_url, env))
        sandbox = sandbox_url(base_url)
    app_settings = django_settings(values, base_url, sandbox)
    if settings.configured:
        # A second app in this process (the tests): what differs between two sample apps.
        for key in ("RPKIT", "EXAMPLE_SANDBOX_URL", "ALLOWED_HOSTS"):
            setattr(settings, key, app_settings[key])
        reset()
    else:
        settings.configure(**app_settings)
    django.setup()
    state = rpkit_state()
    try:
        state.check_bearer_configuration()
    except ConfigurationError as err:
        # As the Flask sample app: people can sign in, the API answers every token with a
        # 401 that says what to configure.
        log.warning("sample app: /api/crew/me refuses every token: %s", err.message)
    return WSGIHandler()


def django_settings(values: dict[str, Any], base_url: str, sandbox: str | None) -> dict[str, Any]:
    """The sample app's Django settings (``RPKIT``: its rpkit settings)."""
    host = urlsplit(base_url).hostname or "127.0.0.1"
    hosts = [host, "localhost", "127.0.0.1", "[::1]"] if is_loopback_host(host) else [host]
    return {
        "DEBUG": False,
        # Django signs nothing of rpkit's (its sessions are server-side); its CSRF cookie
        # and the rest get a per-process key unless RPKIT_SECRET_KEY is set.
        "SECRET_KEY": collect_env(values).get("RPKIT_SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": hosts,
        "ROOT_URLCONF": "example_app.django.urls",
        "INSTALLED_APPS": ["rpkit.django"],
        "MIDDLEWARE": [
            "rpkit.django.middleware.RpkitMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        "TEMPLATES": [
            {
                # The pages and the layout the Flask and FastAPI sample apps use (Jinja2).
                "BACKEND": "django.template.backends.jinja2.Jinja2",
                "DIRS": [str(TEMPLATES)],
                "OPTIONS": {"context_processors": ["rpkit.django.context_processors.rpkit"]},
            }
        ],
        "DATABASES": {},
        "USE_TZ": True,
        "RPKIT": values,
        "EXAMPLE_SANDBOX_URL": sandbox,
    }
