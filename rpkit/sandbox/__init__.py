"""The fake Dualog: OIDC provider, SAML IdP and SCIM API over one crew store.

Start it with ``rpkit sandbox`` or, in-process, with :class:`SandboxServer`; in tests use
:func:`rpkit.testing.sandbox_server`.

Owns: the fake Dualog: OIDC provider, SAML IdP, SCIM API, admin controls, one crew store.
Must not import: anything of rpkit but ``rpkit.errors``: the referee shares no code, and so
no assumption, with the client it tests.
"""

from .config import OidcClientConfig, SamlServiceProviderConfig, SandboxConfig
from .server import SandboxServer, env_block, render_banner

__all__ = [
    "OidcClientConfig",
    "SamlServiceProviderConfig",
    "SandboxConfig",
    "SandboxServer",
    "env_block",
    "render_banner",
]
