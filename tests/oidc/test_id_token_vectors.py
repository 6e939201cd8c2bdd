"""Every ID token rule, one named vector each (tests/oidc/vectors/id_tokens.json)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import warnings
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, OctKey, RSAKey
from joserfc.jws import JWSRegistry

from rpkit.errors import IdTokenError
from rpkit.oidc import ExpectedIdToken, parse_jwks, validate_id_token
from rpkit.oidc.id_token import token_hash

VECTORS = json.loads((Path(__file__).parent / "vectors" / "id_tokens.json").read_text())["vectors"]
NOW = 1_700_000_000
ISSUER = "https://crew.dualog.com/auth"
CLIENT_SECRET = "a-long-client-secret-for-hs256-tests-0123456789"
ACCESS_TOKEN = "access-token-for-at-hash"


@cache
def keys() -> dict[str, Any]:
    k1 = RSAKey.generate_key(2048, parameters={"kid": "k1"}, auto_kid=False)
    k1_nokid = RSAKey.import_key({k: v for k, v in k1.as_dict(private=True).items() if k != "kid"})
    k2 = RSAKey.generate_key(2048, parameters={"kid": "k2"}, auto_kid=False)
    k2_nokid = RSAKey.generate_key(2048, auto_kid=False)
    attacker = RSAKey.generate_key(2048, parameters={"kid": "k1"}, auto_kid=False)
    ec1 = ECKey.generate_key("P-256", parameters={"kid": "ec1"}, auto_kid=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns about the weak key it is asked for
        rsa1024 = RSAKey.generate_key(1024, parameters={"kid": "rsa1024"}, auto_kid=False)
        rsa1024_nokid = RSAKey.generate_key(1024, auto_kid=False)
    k256 = ECKey.generate_key("secp256k1", parameters={"kid": "k256"}, auto_kid=False)
    return {
        "rsa1024": rsa1024,
        "rsa1024_nokid": rsa1024_nokid,
        "secp256k1": k256,
        "k1": k1,
        "k1_nokid": k1_nokid,
        "k2": k2,
        "k2_nokid": k2_nokid,
        "attacker_as_k1": attacker,
        "ec1": ec1,
        "client_secret": OctKey.import_key(CLIENT_SECRET),
        "wrong_secret": OctKey.import_key("another-secret-that-is-long-enough-0123456789"),
    }


def base_claims() -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": "crew-1001",
        "aud": "app",
        "exp": NOW + 300,
        "iat": NOW - 5,
        "auth_time": NOW - 10,
        "nonce": "n-0S6_WzA2Mj",
        "rank": "Master",
        "email": "master@nordic-tankers.example",
    }


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def build(vector: dict[str, Any]) -> str:
    """Assemble the token by hand, so a vector can say what no JOSE library would sign."""
    if "raw" in vector:
        return str(vector["raw"])
    alg = vector.get("alg", "RS256")
    claims = base_claims()
    claims["at_hash"] = token_hash(ACCESS_TOKEN, alg if alg.upper() != "NONE" else "RS256")
    claims.update(vector.get("claims", {}))
    claims = {k: v for k, v in claims.items() if v is not None}
    sign = vector.get("sign", "k1")
    if sign == "k1_public_pem_as_secret":
        return hmac_with_public_pem(claims)
    key = None if sign == "none" else keys()[sign]
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if key is not None and key.kid:
        header["kid"] = key.kid
    header.update(vector.get("header", {}))
    if "payload_raw" in vector:
        payload = base64.urlsafe_b64decode(vector["payload_raw"] + "==")
    else:
        payload = json.dumps(claims).encode()
    signing_input = b64(json.dumps(header).encode()) + "." + b64(payload)
    if key is None:
        return signing_input + "."
    signature = JWSRegistry.algorithms[alg].sign(signing_input.encode(), key)
    return signing_input + "." + b64(signature)


def hmac_with_public_pem(claims: dict[str, Any]) -> str:
    """The classic RS256/HS256 confusion: HMAC keyed with the provider's public key."""

    signing_input = b64(b'{"alg":"HS256","kid":"k1"}') + "." + b64(json.dumps(claims).encode())
    secret = keys()["k1"].as_pem(private=False)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def expectation(vector: dict[str, Any]) -> ExpectedIdToken:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": "app",
        "nonce": "n-0S6_WzA2Mj",
        "algorithms": ("RS256", "PS256", "ES256"),
        "leeway": timedelta(seconds=60),
        "access_token": ACCESS_TOKEN,
        "client_secret": CLIENT_SECRET,
    }
    overrides = dict(vector.get("expected", {}))
    if "algorithms" in overrides:
        overrides["algorithms"] = tuple(overrides["algorithms"])
    values.update(overrides)
    return ExpectedIdToken(**values)


def published(vector: dict[str, Any]) -> Any:
    names = vector.get("jwks", ["k1"])
    return parse_jwks({"keys": [keys()[n].as_dict(private=False) for n in names]})


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_id_token_vector(vector: dict[str, Any]) -> None:
    """Each vector is accepted, or rejected for exactly its stated reason."""
    token = build(vector)
    if vector["reason"] is None:
        result = validate_id_token(
            token, keys=published(vector), expected=expectation(vector), now=NOW
        )
        assert result.subject == "crew-1001"
        return
    with pytest.raises(IdTokenError) as exc:
        validate_id_token(token, keys=published(vector), expected=expectation(vector), now=NOW)
    assert exc.value.reason == vector["reason"], str(exc.value)


def test_vector_ids_are_unique() -> None:
    ids = [v["id"] for v in VECTORS]
    assert len(ids) == len(set(ids))


def test_a_login_expectation_without_nonce_cannot_be_built() -> None:
    with pytest.raises(IdTokenError) as exc:
        ExpectedIdToken(issuer=ISSUER, client_id="app", nonce=None, algorithms=("RS256",))
    assert exc.value.reason == "nonce"


def test_unknown_kid_marks_key_not_found_so_the_client_refetches() -> None:
    with pytest.raises(IdTokenError) as exc:
        validate_id_token(
            build({"sign": "k2"}), keys=published({}), expected=expectation({}), now=NOW
        )
    assert exc.value.key_not_found
