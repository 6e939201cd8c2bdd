"""OpenID Connect relying party for Dualog Identity (cloud and ship-side).

Owns: the OpenID Connect relying party: discovery, keys, the code flow, ID and access
tokens, userinfo, logout.
Must not import: ``rpkit.saml``, ``rpkit.scim``, a web layer, the sandbox or
``rpkit.testing`` (floor 2); joserfc's JWS only in ``rpkit.oidc._jwt``, never
``authlib.jose``.
"""

from .authorize import LoginState, parse_callback, start_login
from .bearer import AccessToken, ExpectedAccessToken, validate_access_token
from .claims import identity_from_claims
from .client import BROWSER_COOKIE, AuthorizationRequest, LoginResult, OidcClient, RefreshResult
from .discovery import Discovery, ProviderMetadata, parse_provider_metadata
from .id_token import ExpectedIdToken, IdToken, validate_id_token
from .keys import JwksCache, SigningKeys, parse_jwks
from .logout import (
    LogoutToken,
    end_session_url,
    validate_frontchannel_logout,
    validate_logout_return,
    validate_logout_token,
)
from .tokens import TokenSet

__all__ = [
    "BROWSER_COOKIE",
    "AccessToken",
    "AuthorizationRequest",
    "Discovery",
    "ExpectedAccessToken",
    "ExpectedIdToken",
    "IdToken",
    "JwksCache",
    "LoginResult",
    "LoginState",
    "LogoutToken",
    "OidcClient",
    "ProviderMetadata",
    "RefreshResult",
    "SigningKeys",
    "TokenSet",
    "end_session_url",
    "identity_from_claims",
    "parse_callback",
    "parse_jwks",
    "parse_provider_metadata",
    "start_login",
    "validate_access_token",
    "validate_frontchannel_logout",
    "validate_id_token",
    "validate_logout_return",
    "validate_logout_token",
]
