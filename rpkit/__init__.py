"""rpkit: sign-in with Dualog Identity (OIDC, SAML 2.0, SCIM) for Python apps.

Owns: the public names of the core (configs, errors, CrewIdentity) and ``__version__``; re-
exports only, no logic and no import-time side effects.
Must not import: the protocol packages, the web layers, the sandbox or ``rpkit.testing``
(``import rpkit`` stays light).
"""

from .config import DUALOG_CLOUD_ISSUER, HttpConfig, OidcConfig
from .errors import (
    AuthenticationError,
    AuthorizationDeniedError,
    CallbackError,
    ClientRejectedError,
    ConfigurationError,
    IdTokenError,
    InvalidGrantError,
    MetadataError,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailableError,
    RpkitError,
    SamlResponseError,
    StoreUnavailableError,
    TokenError,
    UnknownSettingError,
    UserinfoError,
    ValidationError,
)
from .identity import CrewIdentity

__version__ = "0.1.0"

__all__ = [
    "DUALOG_CLOUD_ISSUER",
    "AuthenticationError",
    "AuthorizationDeniedError",
    "CallbackError",
    "ClientRejectedError",
    "ConfigurationError",
    "CrewIdentity",
    "HttpConfig",
    "IdTokenError",
    "InvalidGrantError",
    "MetadataError",
    "OidcConfig",
    "ProviderError",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "RpkitError",
    "SamlResponseError",
    "StoreUnavailableError",
    "TokenError",
    "UnknownSettingError",
    "UserinfoError",
    "ValidationError",
]
