"""Token endpoint errors are typed by who is at fault: the grant or the client's configuration."""

from __future__ import annotations

from typing import Any

import pytest

from rpkit.errors import (
    ClientRejectedError,
    InvalidGrantError,
    ProviderResponseError,
)

from .conftest import BROWSER, follow_authorize, make_client
from .fake_op import FakeOP


@pytest.mark.parametrize(
    ("status", "body", "kind", "setting"),
    [
        (400, {"error": "invalid_grant"}, InvalidGrantError, None),
        (
            400,
            {"error": "invalid_grant", "error_description": "PKCE mismatch"},
            InvalidGrantError,
            None,
        ),
        (400, {"error": "invalid_client"}, ClientRejectedError, "RPKIT_OIDC_CLIENT_SECRET"),
        (401, {"error": "invalid_client"}, ClientRejectedError, "RPKIT_OIDC_CLIENT_SECRET"),
        (401, "", ClientRejectedError, "RPKIT_OIDC_CLIENT_SECRET"),
        (400, {"error": "unauthorized_client"}, ClientRejectedError, "RPKIT_OIDC_CLIENT_ID"),
        (400, {"error": "unsupported_grant_type"}, ClientRejectedError, "RPKIT_OIDC_CLIENT_ID"),
        (400, {"error": "invalid_scope"}, ClientRejectedError, "RPKIT_OIDC_SCOPES"),
        (
            400,
            {"error": "invalid_request", "error_description": "redirect_uri mismatch"},
            ClientRejectedError,
            "RPKIT_BASE_URL",
        ),
        (400, {"error": "invalid_request"}, ProviderResponseError, None),
        (200, {"error": "invalid_grant"}, InvalidGrantError, None),
    ],
    ids=[
        "invalid_grant",
        "pkce_mismatch",
        "invalid_client_400_as_identityserver",
        "invalid_client_401",
        "bare_401",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "redirect_uri",
        "other_invalid_request",
        "error_body_with_200",
    ],
)
def test_code_exchange_errors_are_typed(
    op: FakeOP, status: int, body: Any, kind: type[ProviderResponseError], setting: str | None
) -> None:
    """Each token endpoint answer raises its class; configuration errors name the setting."""
    op.token_response = lambda form: (status, body)
    client = make_client(op)
    url = client.start_login(browser_token=BROWSER).url
    with pytest.raises(ProviderResponseError) as exc:
        client.finish_login(follow_authorize(url), browser_token=BROWSER)
    assert type(exc.value) is kind
    if setting is not None:
        assert isinstance(exc.value, ClientRejectedError)
        assert setting in exc.value.setting and setting in exc.value.message


def test_invalid_client_with_private_key_jwt_names_the_key(op: FakeOP) -> None:
    """With private_key_jwt the setting to check is the key, not a secret."""
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "app-key"}, auto_kid=False)
    op.token_response = lambda form: (400, {"error": "invalid_client"})
    client = make_client(
        op,
        token_endpoint_auth_method="private_key_jwt",
        client_private_key=key.as_pem(private=True).decode(),
    )
    url = client.start_login(browser_token=BROWSER).url
    with pytest.raises(ClientRejectedError) as exc:
        client.finish_login(follow_authorize(url), browser_token=BROWSER)
    assert "RPKIT_OIDC_CLIENT_PRIVATE_KEY" in exc.value.setting


def test_a_dead_refresh_token_is_invalid_grant(op: FakeOP) -> None:
    """A refresh the provider refuses is the grant's fault: sign in again."""
    client = make_client(op)
    url = client.start_login(browser_token=BROWSER).url
    result = client.finish_login(follow_authorize(url), browser_token=BROWSER)
    assert result.tokens.refresh_token is not None
    op.refresh_tokens.clear()
    with pytest.raises(InvalidGrantError):
        client.refresh(result.tokens.refresh_token, previous=result.id_token)


@pytest.mark.parametrize("token", ["tøken", "tab\there", "line\nbreak", "emoji-\U0001f6a2"])
def test_an_access_token_outside_printable_ascii_is_malformed(op: FakeOP, token: str) -> None:
    """RFC 6749 §A.12 VSCHAR: anything else is a malformed token response."""
    op.token_response = lambda form: (200, {"access_token": token, "token_type": "Bearer"})
    client = make_client(op)
    url = client.start_login(browser_token=BROWSER).url
    with pytest.raises(ProviderResponseError) as exc:
        client.finish_login(follow_authorize(url), browser_token=BROWSER)
    assert type(exc.value) is ProviderResponseError
    assert "printable ASCII" in exc.value.message
