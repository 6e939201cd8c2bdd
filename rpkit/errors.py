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
    ├── NotConfiguredError             a request for a protocol this app does not offer
    └── AuthenticationError            reject this login or token (.reason, .public)
        ├── AuthorizationDeniedError   the IdP returned error=
        ├── CallbackError              not a login in flight here: state, browser, code
        ├── OidcTokenError             a signed JWT refused (.key_not_found)
        │   ├── IdTokenError           ID token rejected
        │   ├── TokenError             access, refresh or logout token rejected
        │   └── UserinfoError          userinfo response rejected
        └── SamlResponseError          SAML response or logout message rejected

Owns: the one exception tree and its reason codes.
Must not import: anything of rpkit (floor 0: every other part imports it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MISCONFIGURED",
    "AuthenticationError",
    "AuthorizationDeniedError",
    "CallbackError",
    "ClientRejectedError",
    "ConfigurationError",
    "IdTokenError",
    "InvalidGrantError",
    "MetadataError",
    "NotConfiguredError",
    "OidcTokenError",
    "ProviderError",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "PublicAnswer",
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


class NotConfiguredError(RpkitError):
    """A request for a protocol (or an API) this app was not configured to offer.

    Not a :class:`ConfigurationError`: the configuration is fine, the request asks for
    something that is not here, so the web layer answers 404.
    """

    code = "not_configured"


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


@dataclass(frozen=True, slots=True)
class PublicAnswer:
    """What the person at the browser may be told of a refusal: a status, a title and one
    sentence, never the detail (which goes to the log)."""

    status: int
    title: str
    message: str


#: The app's own configuration or registration is wrong: nobody can sign in until fixed.
MISCONFIGURED = PublicAnswer(
    502,
    "This app is misconfigured",
    (
        "Dualog Identity refused this app's own configuration, so nobody can sign in until "
        "an administrator fixes it. Administrators: run `rpkit doctor` and look up the "
        "correlation id below in the app's log, which names the setting to check."
    ),
)
_NOT_VERIFIED = PublicAnswer(
    400, "Sign-in failed", "The answer from Dualog Identity could not be verified."
)
_SAFE_CODE = re.compile(r"^[a-z0-9_.-]{1,64}$")


class AuthenticationError(RpkitError):
    """Reject this login or token. Every refusal has one shape, whatever the protocol:

    * ``reason``: a stable snake_case code, for logs, metrics and the troubleshooting page;
    * ``message``: the detail, one sentence for the log;
    * ``public``: what the person at the browser may read (:class:`PublicAnswer`).

    The web layer answers ``public`` and logs the rest, with no protocol knowledge.
    """

    code = "authentication_error"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def public(self) -> PublicAnswer:
        return _NOT_VERIFIED


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

    @property
    def public(self) -> PublicAnswer:
        error = self.error if _SAFE_CODE.match(self.error or "") else "error"
        return PublicAnswer(
            400,
            "Sign-in was refused",
            f"Dualog Identity did not sign you in ({error}). You can try again.",
        )


class CallbackError(AuthenticationError):
    """The answer to a login does not belong to a login in flight here: state missing,
    mismatched, reused or expired, the browser is not the one that started it, no code.

    ``reason`` names which (``state_unknown``, ``browser_binding``...); every one tells
    the person the same: start the sign-in again.
    """

    code = "callback_error"

    @property
    def public(self) -> PublicAnswer:
        return PublicAnswer(
            400,
            "Sign-in link expired",
            (
                "This sign-in answer is unknown, expired, already used or was started in another "
                "browser. Please start the sign-in again."
            ),
        )


class OidcTokenError(AuthenticationError):
    """A signed JWT of the OpenID provider was refused.

    ``key_not_found`` is True when no key the provider publishes could verify it: the
    provider may have rotated its keys, so refetching the JWKS once may help (``OidcClient``
    does).
    """

    code = "oidc_token_error"

    def __init__(self, reason: str, message: str, *, key_not_found: bool = False) -> None:
        super().__init__(reason, message)
        self.key_not_found = key_not_found


class IdTokenError(OidcTokenError):
    """The ID token failed validation (OIDC Core 1.0 §3.1.3.7)."""

    code = "id_token_error"


class TokenError(OidcTokenError):
    """An access, refresh or logout token failed validation."""

    code = "token_error"

    @property
    def public(self) -> PublicAnswer:
        return PublicAnswer(401, "Invalid token", "The access token was refused.")


class UserinfoError(OidcTokenError):
    """The userinfo response failed validation (OIDC Core 1.0 §5.3.2)."""

    code = "userinfo_error"


class SamlResponseError(AuthenticationError):
    """A SAML response or logout message failed validation.

    ``key_not_found`` is True when a signature failed on the IdP keys held here, even where
    the reason says otherwise (``decryption`` hides it): fresh metadata may carry a new key.
    """

    code = "saml_response_error"

    #: RelayState unknown or used, another browser, a replayed assertion: the same as an
    #: OIDC ``CallbackError`` to the person (start again).
    PENDING_LOGIN_REASONS = frozenset({"relay_state", "browser_binding", "replay"})

    def __init__(self, reason: str, message: str, *, key_not_found: bool = False) -> None:
        super().__init__(reason, message)
        self.key_not_found = key_not_found

    @property
    def public(self) -> PublicAnswer:
        if self.reason == "sp_rejected":
            return MISCONFIGURED
        if self.reason in self.PENDING_LOGIN_REASONS:
            return PublicAnswer(
                400,
                "Sign-in link expired",
                (
                    "This SAML answer is unknown, expired, already used or was started in "
                    "another browser. Please start the sign-in again."
                ),
            )
        if self.reason == "status":
            return PublicAnswer(400, "Sign-in was refused", "Dualog Identity did not sign you in.")
        return PublicAnswer(
            400, "Message refused", "The message from Dualog Identity could not be verified."
        )
