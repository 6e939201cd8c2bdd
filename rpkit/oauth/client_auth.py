"""``ClientConfig``: this app registered as an OAuth client at one token endpoint, and how it
authenticates there (RFC 6749 §2.3): ``client_secret_basic``, ``client_secret_post`` or
``private_key_jwt`` (RFC 7523 §2.2), with Authlib's requests auth.

It owns the client registration only; the grants are in ``token_endpoint``. It imports
nothing of ``rpkit.oidc`` or ``rpkit.scim``, which both use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote_plus

from authlib.integrations.requests_client.oauth2_session import OAuth2ClientAuth
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey

from ..config import TokenEndpointAuthMethod, check_client_auth, load_client_private_key
from ..errors import ConfigurationError

__all__ = ["ClientConfig", "client_auth"]

_EC_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


@dataclass(frozen=True, kw_only=True, slots=True)
class ClientConfig:
    """A client registration at one token endpoint. Secrets are kept out of ``repr``.

    ``private_key`` (PEM or JWK JSON, RSA or EC) and ``private_key_id`` serve
    ``private_key_jwt``; ``client_secret`` serves the two secret methods (an absent one is
    sent empty, as a public client's would be).

    Raises:
        ConfigurationError: no client id, an unknown auth method, or ``private_key_jwt``
            without a usable private key.
    """

    token_endpoint: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: TokenEndpointAuthMethod = "client_secret_basic"
    private_key: str | None = field(default=None, repr=False)
    private_key_id: str | None = None

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ConfigurationError('"client_id" is required')
        check_client_auth(self.auth_method, self.private_key)


def client_auth(client: ClientConfig) -> OAuth2ClientAuth:
    """Authlib's requests auth for the client's token endpoint auth method."""
    method = client.auth_method
    if method == "private_key_jwt":
        # Imported here, not by Authlib: it reads a str as an RSA PEM only, so a JWK JSON
        # or an EC key (both allowed by OidcConfig) failed with a bare ValueError.
        key = load_client_private_key(client.private_key or "")
        kid = client.private_key_id or key.kid
        alg = _EC_ALG.get(str(key.get("crv")), "ES256") if isinstance(key, ECKey) else "RS256"
        return OAuth2ClientAuth(
            client.client_id,
            key,
            PrivateKeyJWT(client.token_endpoint, headers={"kid": kid} if kid else None, alg=alg),
        )
    if method == "client_secret_basic":
        # RFC 6749 §2.3.1: form-urlencode (UTF-8) both before Basic encoding. Authlib sends
        # them raw, so a secret with "+", "%", ":" or non-ASCII failed at providers that
        # decode, as IdentityServer (Dualog) does.
        return OAuth2ClientAuth(
            quote_plus(client.client_id), quote_plus(client.client_secret or ""), method
        )
    return OAuth2ClientAuth(client.client_id, client.client_secret or "", method)
