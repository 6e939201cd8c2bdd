"""The embedded sandbox: with no identity provider configured, the demo runs its own fake
Dualog in a background thread and wires the app to it."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from rpkit.errors import ConfigurationError
from rpkit.web.settings import OIDC_PROVIDER_KEYS, SAML_PROVIDER_KEYS

__all__ = ["env_variables", "provider_configured", "sandbox_env"]

log = logging.getLogger("example_app")

DEFAULT_SANDBOX_PORT = 8080
_lock = threading.Lock()
_running: dict[str, Any] = {}


def env_variables() -> frozenset[str]:
    """The sample app's own ``RPKIT_*`` variables (README), for ``rpkit.env``."""
    return frozenset({"RPKIT_SANDBOX", "RPKIT_SANDBOX_PORT", "RPKIT_SANDBOX_DATA_DIR"})


def provider_configured(values: dict[str, str], config: Any) -> bool:
    """Whether any identity-provider setting (env or ``app.config``) is present."""
    if config.get("RPKIT_OIDC") is not None or config.get("RPKIT_SAML") is not None:
        return True
    return any(values.get(k) for k in (*OIDC_PROVIDER_KEYS, *SAML_PROVIDER_KEYS))


def sandbox_env(base_url: str, values: dict[str, str]) -> dict[str, str]:
    """Start (once per process) a sandbox registered for ``base_url``; return the env for it.

    ``RPKIT_SANDBOX_PORT`` (default 8080; 0 picks a free port) and ``RPKIT_SANDBOX_DATA_DIR``
    (default ``.rpkit-sandbox`` in the working directory) tune it.
    """
    from rpkit.sandbox import SandboxConfig, SandboxServer, env_block
    from rpkit.sandbox.config import (
        CREW_CLAIMS_MAPPING,
        DEFAULT_CLIENTS,
        OidcClientConfig,
        SamlServiceProviderConfig,
        stored_admin_token,
    )

    with _lock:
        server = _running.get(base_url)
        if server is None:
            try:
                port = int(values.get("RPKIT_SANDBOX_PORT") or DEFAULT_SANDBOX_PORT)
            except ValueError as err:
                raise ConfigurationError('"RPKIT_SANDBOX_PORT" must be a port number') from err
            data_dir = Path(values.get("RPKIT_SANDBOX_DATA_DIR") or ".rpkit-sandbox")
            demo = OidcClientConfig(
                client_id="rpkit-demo",
                client_secret="rpkit-demo-secret",
                name="rpkit sample app",
                redirect_uris=(f"{base_url}/auth/oidc/callback",),
                post_logout_redirect_uris=(f"{base_url}/",),
                grant_types=("authorization_code", "refresh_token", "password"),
                # As the sandbox's default demo client (its README names the switch).
                allow_offline_access=True,
            )
            clients = (demo, *(c for c in DEFAULT_CLIENTS if c.client_id != "rpkit-demo"))
            sp = SamlServiceProviderConfig(
                entity_id=f"{base_url}/auth/saml/metadata",
                acs_urls=(f"{base_url}/auth/saml/acs",),
                slo_urls=(f"{base_url}/auth/saml/slo",),
                # RSK defaults (unspecified NameID, signed requests checked against the
                # certificate in the app's metadata), plus the crew claims in the mapping.
                claims_mapping=CREW_CLAIMS_MAPPING,
            )
            config = SandboxConfig(
                host="127.0.0.1",
                port=port,
                data_dir=data_dir,
                clients=clients,
                service_providers=(sp,),
                # Kept in the data dir, where `rpkit sandbox counts|fault|...` find it.
                admin_token=stored_admin_token(data_dir),
            )
            os.makedirs(data_dir, exist_ok=True)
            server = SandboxServer(config).start()
            _running[base_url] = server
            log.warning(
                "rpkit sandbox (fake Dualog) serving at %s; admin token in %s "
                "(`rpkit sandbox counts --url %s --data-dir %s` uses it)",
                server.base_url,
                data_dir / "admin-token",
                server.base_url,
                data_dir,
            )
        env = env_block(server.state)
    return {
        "RPKIT_OIDC_ISSUER": env["RPKIT_OIDC_ISSUER"],
        "RPKIT_OIDC_CLIENT_ID": env["RPKIT_OIDC_CLIENT_ID"],
        "RPKIT_OIDC_CLIENT_SECRET": env["RPKIT_OIDC_CLIENT_SECRET"],
        "RPKIT_SAML_IDP_METADATA_URL": env["RPKIT_SAML_IDP_METADATA_URL"],
        # The demo API accepts the access tokens the sandbox issues to the demo client.
        "RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS": env["RPKIT_OIDC_CLIENT_ID"],
    }


def sandbox_url(base_url: str) -> str | None:
    """The embedded sandbox's URL for ``base_url``, if one runs in this process."""
    server = _running.get(base_url)
    return str(server.base_url) if server is not None else None
