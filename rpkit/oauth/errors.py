"""Who is at fault for an OAuth error (RFC 6749 §4.1.2.1, §5.2): the request or the app.

``invalid_grant`` (a replayed, injected or expired code, a PKCE mismatch, a dead refresh
token) is the browser's request: sign in again. ``invalid_client``, ``unauthorized_client``,
``invalid_scope``, an unsupported grant or response type and an unregistered redirect URI
are this app's configuration or registration: nobody can sign in until an operator fixes
it, so the error names the setting to check.
"""

from __future__ import annotations

from ..errors import ClientRejectedError, InvalidGrantError, ProviderResponseError

__all__ = ["classify_token_error", "setting_to_check"]

_SECRET_SETTING = {
    "private_key_jwt": "RPKIT_OIDC_CLIENT_PRIVATE_KEY (and RPKIT_OIDC_CLIENT_PRIVATE_KEY_ID)",
}
_REGISTRATION = (
    "RPKIT_OIDC_CLIENT_ID (the provider's registration of this client must allow the "
    "authorization code grant)"
)


def setting_to_check(
    error: str | None, description: str | None, *, auth_method: str | None = None
) -> str | None:
    """The setting an operator must check when ``error`` is the app's fault, else None."""
    if error == "invalid_client":
        secret = _SECRET_SETTING.get(auth_method or "", "RPKIT_OIDC_CLIENT_SECRET")
        return f"{secret} and RPKIT_OIDC_CLIENT_ID"
    if error in ("unauthorized_client", "unsupported_grant_type", "unsupported_response_type"):
        return _REGISTRATION
    if error == "invalid_scope":
        return "RPKIT_OIDC_SCOPES (ask only for scopes the provider allows this client)"
    if error == "invalid_request" and "redirect" in (description or "").lower():
        return (
            "RPKIT_BASE_URL (the redirect URI <RPKIT_BASE_URL>/auth/oidc/callback must be "
            "registered with the provider exactly)"
        )
    return None


def classify_token_error(err: ProviderResponseError, *, auth_method: str) -> ProviderResponseError:
    """Return ``err`` as an ``InvalidGrantError`` or ``ClientRejectedError`` when it is one."""
    if err.error == "invalid_grant":
        return InvalidGrantError(
            err.message,
            status=err.status,
            error=err.error,
            error_description=err.error_description,
            correlation_id=err.correlation_id,
        )
    error = err.error
    if error is None and err.status == 401:
        # RFC 6749 §5.2: a failed client authentication may come as a bare 401.
        error = "invalid_client"
    setting = setting_to_check(error, err.error_description, auth_method=auth_method)
    if setting is None:
        return err
    return ClientRejectedError(
        f"{err.message}; check {setting}",
        setting=setting,
        status=err.status,
        error=err.error,
        error_description=err.error_description,
        correlation_id=err.correlation_id,
    )
