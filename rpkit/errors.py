"""The whole rpkit exception tree.

Every failure rpkit reports is one of these; no third-party exception crosses the public
surface (wrap with ``raise ... from err``). Messages are one sentence, name the parameter
and, where safe, expected vs actual. They never contain a token, code, assertion, password
or secret.

::

    RpkitError                         .code: stable snake_case string for logs and metrics
    ├── ConfigurationError             raised at startup, never per request
    │   └── UnknownSettingError        an RPKIT_* variable nothing reads (.unknown)
    ├── ValidationError                input we were asked to send is invalid (SCIM, roster)
    ├── StoreUnavailableError          the shared state store (Redis) cannot be reached
    ├── ProviderError                  talking to Dualog failed
    │   ├── ProviderUnavailableError   network, deadline, TLS, size cap, 5xx, 429 (.reason)
    │   ├── ProviderResponseError      4xx / OAuth or SCIM error body
    │   │   ├── InvalidGrantError      invalid_grant: code, PKCE verifier or refresh token
    │   │   │                          refused (the browser's request; sign in again)
    │   │   └── ClientRejectedError    invalid_client, unauthorized_client...: this app's
    │   │                              configuration or registration is wrong (.setting)
    │   └── MetadataError              discovery, JWKS or SAML metadata unusable
    └── AuthenticationError            reject this login or token (.reason)
        ├── AuthorizationDeniedError   the IdP returned error=
        ├── CallbackError              state missing, mismatched or reused; no code
        ├── IdTokenError               ID token rejected
        ├── TokenError                 access, refresh or logout token rejected
        ├── UserinfoError              userinfo response rejected
        └── SamlResponseError          SAML response or logout message rejected

Owns: the one exception tree and its reason codes.
Must not import: anything of rpkit (floor 0: every other part imports it).
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "AuthorizationDeniedError",
    "CallbackError",
    "ClientRejectedError",
    "ConfigurationError",
    "IdTokenError",
    "InvalidGrantError",
    "MetadataError",
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


class RpkitError(Exception):
    """Base of every error rpkit raises."""

    code: str = "rpkit_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(RpkitError):
    """The configuration is unusable; raised when it is built, not per request."""

    code = "configuration_error"


class UnknownSettingError(ConfigurationError):
    """``RPKIT_*`` variables that no part of rpkit reads: typos, most likely.

    ``unknown`` maps each such name to the known variable it most resembles, or None.
    """

    code = "unknown_setting"

    def __init__(self, message: str, *, unknown: dict[str, str | None]) -> None:
        super().__init__(message)
        self.unknown = unknown


class ValidationError(RpkitError):
    """Data rpkit was asked to send is invalid; nothing was sent.

    ``field`` names the offending attribute (``"userName"``, ``"shipImo"``...).
    """

    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class StoreUnavailableError(RpkitError):
    """The state store shared by the app's processes (Redis) did not answer.

    Nothing was read or written, so no login or session was half-made: the web layer
    answers 503, and the same request works again once the store is back.
    """

    code = "store_unavailable"


class ProviderError(RpkitError):
    """Talking to the identity provider failed."""

    code = "provider_error"


class ProviderUnavailableError(ProviderError):
    """Network failure, timeout, TLS failure, oversized answer, 5xx or 429.

    ``reason`` says what happened, as a stable code (``rpkit._http.FAILURE_REASONS``):
    ``deadline``, ``timeout``, ``connection_refused``, ``dns``, ``tls_expired``,
    ``tls_hostname``, ``tls_unknown_issuer``, ``tls_self_signed``, ``too_large``,
    ``http_status``... ``retry_after`` carries the server's ``Retry-After`` in seconds when
    it sent one. ``retryable`` is False where trying again cannot help: a TLS trust failure
    or an answer over the size cap stays so until someone changes a setting.
    """

    code = "provider_unavailable"

    def __init__(
        self,
        message: str,
        *,
        reason: str = "unavailable",
        status: int | None = None,
        retry_after: float | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.correlation_id = correlation_id

    @property
    def retryable(self) -> bool:
        return not (self.reason.startswith("tls") or self.reason == "too_large")


class ProviderResponseError(ProviderError):
    """The provider answered with an error (4xx, an OAuth ``error`` or a SCIM error body)."""

    code = "provider_response_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.error_description = error_description
        self.correlation_id = correlation_id


class InvalidGrantError(ProviderResponseError):
    """The token endpoint refused the grant (RFC 6749 §5.2 ``invalid_grant``).

    The authorization code was replayed, injected, expired or issued to another client,
    the PKCE ``code_verifier`` did not match, or the refresh token is no longer valid: the
    request, not the provider or the app's configuration, is at fault. Start again.
    """

    code = "invalid_grant"


class ClientRejectedError(ProviderResponseError):
    """The provider refused this app itself: its configuration or registration is wrong.

    ``invalid_client`` (a wrong secret or key), ``unauthorized_client`` (a grant the
    registration does not allow), ``invalid_scope``, an unregistered redirect URI... No
    user can sign in until an operator fixes it; ``setting`` names what to check.
    """

    code = "client_rejected"

    def __init__(
        self,
        message: str,
        *,
        setting: str,
        status: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            status=status,
            error=error,
            error_description=error_description,
            correlation_id=correlation_id,
        )
        self.setting = setting


class MetadataError(ProviderError):
    """Discovery document, JWKS or SAML metadata is malformed or does not match config."""

    code = "metadata_error"


class AuthenticationError(RpkitError):
    """Reject this login or token. ``reason`` is a stable snake_case code.

    The web layer answers 400/401 with generic text; ``reason`` goes to logs and metrics.
    """

    code = "authentication_error"

    def __init__(self, reason: str, message: str, *, key_not_found: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        #: True when no published key could verify the token: the provider may have
        #: rotated its keys, so refetching them once may help.
        self.key_not_found = key_not_found


class AuthorizationDeniedError(AuthenticationError):
    """The provider redirected back with ``error=`` (OAuth 2.0 §4.1.2.1)."""

    code = "authorization_denied"

    def __init__(self, error: str, error_description: str | None = None) -> None:
        text = f'The identity provider refused the login: "{error}"'
        if error_description:
            text += f" ({error_description})"
        super().__init__(error, text)
        self.error = error
        self.error_description = error_description


class CallbackError(AuthenticationError):
    """The redirect back to us is malformed: state missing, mismatched or reused; no code."""

    code = "callback_error"


class IdTokenError(AuthenticationError):
    """The ID token failed validation (OIDC Core 1.0 §3.1.3.7)."""

    code = "id_token_error"


class TokenError(AuthenticationError):
    """An access, refresh or logout token failed validation."""

    code = "token_error"


class UserinfoError(AuthenticationError):
    """The userinfo response failed validation (OIDC Core 1.0 §5.3.2)."""

    code = "userinfo_error"


class SamlResponseError(AuthenticationError):
    """A SAML response or logout message failed validation."""

    code = "saml_response_error"
