"""Inputs the fuzzer (benchmarks/fuzz.py) found escaping as non-rpkit exceptions, or passing.

Each is now refused with an ``RpkitError`` and a reason of its own.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from rpkit.errors import CallbackError, IdTokenError, TokenError
from rpkit.oidc import ExpectedIdToken, parse_jwks, validate_id_token
from rpkit.oidc.authorize import LoginState, parse_callback
from rpkit.oidc.bearer import ExpectedAccessToken, validate_access_token
from rpkit.oidc.discovery import ProviderMetadata
from rpkit.oidc.tokens import TokenSet

ISSUER = "https://crew.dualog.com/auth"
NOW = 1_700_000_000
KEY = ECKey.generate_key("P-256", parameters={"kid": "ec1"}, auto_kid=False)
KEYS = parse_jwks({"keys": [KEY.as_dict(private=False)]})
LOGIN = LoginState(
    issuer=ISSUER,
    client_id="app",
    redirect_uri="https://app.example.com/auth/oidc/callback",
    state="s" * 43,
    nonce="n-0S6_WzA2Mj",
    code_verifier="v" * 43,
    scopes=("openid",),
)
METADATA = ProviderMetadata(
    raw={},
    issuer=ISSUER,
    authorization_endpoint=f"{ISSUER}/connect/authorize",
    token_endpoint=f"{ISSUER}/connect/token",
    jwks_uri=f"{ISSUER}/.well-known/openid-configuration/jwks",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: dict[str, Any], payload: str) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(payload.encode())}"
    signature = JWSRegistry(algorithms=["ES256"]).get_alg("ES256").sign(signing_input.encode(), KEY)
    return f"{signing_input}.{_b64(signature)}"


def test_callback_state_with_a_lone_surrogate_is_a_mismatch() -> None:
    """A "state" that is not encodable text is state_mismatch, not a UnicodeEncodeError."""
    params = {"state": "s" * 20 + "\udca3", "code": "c", "iss": ISSUER}
    with pytest.raises(CallbackError) as info:
        parse_callback(params, expected=LOGIN, metadata=METADATA)
    assert info.value.reason == "state_mismatch"


@pytest.mark.parametrize("code", ["c0de\udcfb", "c\u00f6de", "co de\n", "\x00"])
def test_callback_code_outside_printable_ascii_is_malformed(code: str) -> None:
    """A "code" that is not 1*VSCHAR (RFC 6749 A.11) never reaches the token endpoint."""
    params = {"state": LOGIN.state, "code": code, "iss": ISSUER}
    with pytest.raises(CallbackError) as info:
        parse_callback(params, expected=LOGIN, metadata=METADATA)
    assert info.value.reason == "code_malformed"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_id_token_with_a_non_json_number_is_malformed(constant: str) -> None:
    """exp: NaN compares false with every time, so it would never expire: refused."""
    payload = (
        f'{{"iss": "{ISSUER}", "aud": "app", "sub": "crew-1", "nonce": "{LOGIN.nonce}", '
        f'"iat": {NOW}, "exp": {constant}, "rank": "Master"}}'
    )
    token = _signed({"alg": "ES256", "kid": "ec1", "typ": "JWT"}, payload)
    expected = ExpectedIdToken(
        issuer=ISSUER, client_id="app", nonce=LOGIN.nonce, algorithms=("ES256",)
    )
    with pytest.raises(IdTokenError) as info:
        validate_id_token(token, keys=KEYS, expected=expected, now=NOW)
    assert info.value.reason == "malformed"


def test_access_token_header_with_nan_is_malformed() -> None:
    """A header carrying NaN is not JSON either."""
    token = _signed(
        {"alg": "ES256", "kid": "ec1", "typ": "at+jwt", "x": float("nan")},
        f'{{"iss": "{ISSUER}", "aud": "api", "exp": {NOW + 60}}}',
    )
    expected = ExpectedAccessToken(issuer=ISSUER, algorithms=("ES256",), audiences=("api",))
    with pytest.raises(TokenError) as info:
        validate_access_token(token, keys=KEYS, expected=expected, now=NOW)
    assert info.value.reason == "malformed"


@pytest.mark.parametrize("expires_in", [10**400, "9" * 5000, float("inf"), float("nan"), "1e9"])
def test_token_response_with_an_unusable_expires_in_has_no_expiry(expires_in: Any) -> None:
    """An expires_in too large for a float (OverflowError before) counts as unknown."""
    tokens = TokenSet.from_response(
        {"access_token": "at", "token_type": "Bearer", "expires_in": expires_in},
        now=datetime.fromtimestamp(NOW, UTC),
    )
    assert tokens.expires_at is None


@pytest.mark.parametrize(("claim", "reason"), [("exp", "expired"), ("iat", "iat")])
def test_id_token_time_past_float_range_is_refused(claim: str, reason: str) -> None:
    """An integer claim too large for a float (10**400) is refused, not an OverflowError."""
    claims = {
        "iss": ISSUER,
        "aud": "app",
        "sub": "crew-1",
        "nonce": LOGIN.nonce,
        "iat": NOW,
        "exp": NOW + 60,
        "rank": "Master",
        claim: 10**400,
    }
    token = _signed({"alg": "ES256", "kid": "ec1", "typ": "JWT"}, json.dumps(claims))
    expected = ExpectedIdToken(
        issuer=ISSUER, client_id="app", nonce=LOGIN.nonce, algorithms=("ES256",)
    )
    with pytest.raises(IdTokenError) as info:
        validate_id_token(token, keys=KEYS, expected=expected, now=NOW)
    assert info.value.reason == reason
