"""One error vocabulary: every refusal has a reason, a log detail and a public answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rpkit.errors import (
    MISCONFIGURED,
    AuthenticationError,
    AuthorizationDeniedError,
    CallbackError,
    IdTokenError,
    OidcTokenError,
    SamlResponseError,
    TokenError,
    UserinfoError,
    ValidationError,
)
from rpkit.oidc import ProviderMetadata, start_login
from rpkit.reasons import REASONS

METADATA = ProviderMetadata(
    issuer="https://idp.example/auth",
    authorization_endpoint="https://idp.example/auth/connect/authorize",
    token_endpoint="https://idp.example/auth/connect/token",
    jwks_uri="https://idp.example/auth/.well-known/openid-configuration/jwks",
)


@pytest.mark.parametrize(
    "error",
    [
        CallbackError("state_unknown", "detail"),
        CallbackError("browser_binding", "detail"),
        SamlResponseError("relay_state", "detail"),
        SamlResponseError("browser_binding", "detail"),
        SamlResponseError("replay", "detail"),
    ],
    ids=lambda e: f"{type(e).__name__}-{e.reason}",
)
def test_a_login_not_in_flight_reads_the_same_in_both_protocols(
    error: AuthenticationError,
) -> None:
    """Unknown, used, expired or another browser's: 400 "Sign-in link expired", whichever
    protocol; the detail stays out of the public text, and the reason is documented."""
    public = error.public
    assert (public.status, public.title) == (400, "Sign-in link expired")
    assert "detail" not in public.message
    assert "start the sign-in again" in public.message
    assert error.reason in REASONS[type(error).__name__]


def test_public_answers_by_kind() -> None:
    """Each kind of refusal carries its own public answer; none repeats the log detail."""
    secret = "eyJhbGciOi-secret-token"
    assert TokenError("expired", secret).public.status == 401
    assert IdTokenError("nonce", secret).public.title == "Sign-in failed"
    assert SamlResponseError("status", secret).public.title == "Sign-in was refused"
    assert SamlResponseError("signature", secret).public.title == "Message refused"
    assert SamlResponseError("sp_rejected", secret).public is MISCONFIGURED
    denied = AuthorizationDeniedError("access_denied", secret)
    assert denied.public.message == (
        "Dualog Identity did not sign you in (access_denied). You can try again."
    )
    assert "<" not in AuthorizationDeniedError("<script>", None).public.message
    for error in (TokenError("expired", secret), SamlResponseError("signature", secret)):
        assert secret not in error.public.message
        assert error.message == secret  # the detail, for the log


def test_the_jwks_retry_flag_is_oidc_only() -> None:
    """``key_not_found`` sits on the OIDC token errors (and SAML's own), not on the base
    every refusal shares."""
    for cls in (IdTokenError, TokenError, UserinfoError):
        assert issubclass(cls, OidcTokenError)
        assert cls("unknown_kid", "x", key_not_found=True).key_not_found
    assert not hasattr(CallbackError("state_unknown", "x"), "key_not_found")
    assert not hasattr(AuthorizationDeniedError("access_denied"), "key_not_found")
    assert SamlResponseError("decryption", "x", key_not_found=True).key_not_found


def test_an_extra_authorization_parameter_cannot_override_rpkits() -> None:
    """A typed error (not a bare ValueError) names the parameter."""
    with pytest.raises(ValidationError) as exc:
        start_login(
            METADATA,
            client_id="app",
            redirect_uri="https://app.example/cb",
            scopes=("openid",),
            now=datetime(2026, 9, 21, tzinfo=UTC),
            extra={"nonce": "mine"},
        )
    assert exc.value.field == "extra"
