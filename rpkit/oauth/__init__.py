"""OAuth 2.0 client calls shared by OIDC and SCIM: the client registration, its
authentication at the token endpoint, and the token requests.

It sits below ``rpkit.oidc`` and ``rpkit.scim`` and imports neither.

Owns: token endpoint calls and client authentication (``ClientConfig``, ``TokenSet``), for
``rpkit.oidc`` and ``rpkit.scim`` alike.
Must not import: ``rpkit.oidc``, ``rpkit.saml``, ``rpkit.scim`` or a web layer (floor 1).
"""

from . import token_endpoint
from .client_auth import ClientConfig as ClientConfig
from .token_endpoint import ClientCredentialsSource as ClientCredentialsSource
from .token_endpoint import TokenSet as TokenSet
from .token_endpoint import exchange_code as exchange_code
from .token_endpoint import request_client_credentials as request_client_credentials
from .token_endpoint import request_refresh as request_refresh
from .token_endpoint import request_token as request_token

__all__ = ["ClientConfig", *token_endpoint.__all__]
