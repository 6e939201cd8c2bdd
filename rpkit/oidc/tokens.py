"""The OIDC client's registration as an OAuth client: ``OidcConfig`` seen by ``rpkit.oauth``.

The token endpoint calls and client authentication live in ``rpkit.oauth`` (SCIM uses them
too); ``TokenSet`` is re-exported here and from ``rpkit.oidc``, where it has always been.
"""

from __future__ import annotations

from ..config import OidcConfig
from ..oauth import ClientConfig, TokenSet

__all__ = ["TokenSet", "client_config"]


def client_config(config: OidcConfig, token_endpoint: str) -> ClientConfig:
    """The client id, secret, auth method and key of ``config``, at ``token_endpoint``."""
    return ClientConfig(
        token_endpoint=token_endpoint,
        client_id=config.client_id,
        client_secret=config.client_secret,
        auth_method=config.token_endpoint_auth_method,
        private_key=config.client_private_key,
        private_key_id=config.client_private_key_id,
    )
