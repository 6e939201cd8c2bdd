"""The control API: admin auth, reset, faults, counts, key rotation, clock, next-token claims."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.errors import JoseError

from rpkit.testing import SandboxHandle, sandbox_fixture

from .helpers import INGRID, PIOTR, authorize_params, pick_card, pkce_pair

fresh = sandbox_fixture()  # key rotation persists across reset: a sandbox per test


def _header_kid(token: str) -> str:
    import base64
    import json

    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def test_admin_api_needs_the_token(sandbox: SandboxHandle) -> None:
    """Without the admin token every control call is a 401."""
    url = sandbox.base_url + "/_sandbox/reset"
    assert requests.post(url, timeout=10).status_code == 401
    bad = requests.post(url, headers={"Authorization": "Bearer wrong-token-value"}, timeout=10)
    assert bad.status_code == 401


def test_request_counts(sandbox: SandboxHandle) -> None:
    """Discovery, JWKS and token requests are counted per endpoint."""
    requests.get(sandbox.urls["discovery"], timeout=10)
    sandbox.jwks()
    sandbox.jwks()
    sandbox.scim_token()
    counts = sandbox.request_counts()
    assert counts["discovery"] == 1 and counts["jwks"] == 2 and counts["token"] == 1
    sandbox.reset_counts()
    assert sandbox.request_counts() == {}


def test_error_fault_with_times(sandbox: SandboxHandle) -> None:
    """An error fault answers its status for `times` requests, then clears."""
    sandbox.set_fault("jwks", "error", status=503, times=2)
    assert requests.get(sandbox.urls["jwks"], timeout=10).status_code == 503
    assert requests.get(sandbox.urls["jwks"], timeout=10).status_code == 503
    assert requests.get(sandbox.urls["jwks"], timeout=10).status_code == 200
    assert sandbox.request_counts()["jwks"] == 3


def test_rate_limit_fault_sends_retry_after(sandbox: SandboxHandle) -> None:
    """A rate_limit fault answers 429 with Retry-After."""
    sandbox.set_fault("token", "rate_limit", retry_after=7)
    answer = requests.post(
        sandbox.urls["token"], data={"grant_type": "client_credentials"}, timeout=10
    )
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    sandbox.clear_faults()
    assert sandbox.admin("GET", "faults") == {}


def test_malformed_fault_truncates_the_body(sandbox: SandboxHandle) -> None:
    """A malformed fault keeps status and headers but cuts the body."""
    sandbox.set_fault("discovery", "malformed", times=1)
    answer = requests.get(sandbox.urls["discovery"], timeout=10)
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()
    assert requests.get(sandbox.urls["discovery"], timeout=10).json()["issuer"]


def test_latency_fault(sandbox: SandboxHandle) -> None:
    """A latency fault delays the answer."""
    sandbox.set_fault("userinfo", "latency", delay=0.3, times=1)
    started = time.monotonic()
    requests.get(sandbox.urls["userinfo"], timeout=10)
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("faults/nowhere", {"kind": "error"}),
        ("faults/jwks", {"kind": "explode"}),
        ("faults/jwks", {"kind": "error", "status": 200}),
        ("faults/jwks", {"kind": "error", "extra": 1}),
        ("clock", {}),
        ("clock", {"advance_seconds": "soon"}),
        ("keys/rotate", {"publish": "y"}),
        ("next-token-claims", {"claims": []}),
    ],
    ids=[
        "unknown_endpoint",
        "unknown_kind",
        "status_not_error",
        "unknown_field",
        "clock_empty",
        "clock_not_number",
        "publish_not_bool",
        "claims_not_object",
    ],
)
def test_bad_control_requests_are_400(
    sandbox: SandboxHandle, path: str, body: dict[str, object]
) -> None:
    """Nonsense control requests get a 400 naming the problem."""
    method = "PUT" if path.startswith("faults/") else "POST"
    answer = requests.request(
        method,
        f"{sandbox.base_url}/_sandbox/{path}",
        json=body,
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["detail"]


def test_next_token_claims_apply_once(sandbox: SandboxHandle) -> None:
    """Claim overrides change (or remove) claims of the next ID token only."""
    sandbox.set_next_token_claims({"rank": "Pirate", "idp": None, "aud": "someone-else"})
    first = sandbox.code_tokens(INGRID)["id_token"]
    second = sandbox.code_tokens(INGRID)["id_token"]
    keys = sandbox.key_set()
    claims = jwt.decode(first, keys, algorithms=["RS256"]).claims
    assert claims["rank"] == "Pirate" and "idp" not in claims
    assert claims["aud"] == "someone-else"
    second_claims = jwt.decode(second, keys, algorithms=["RS256"]).claims
    assert "rank" not in second_claims and second_claims["idp"] == "local"


def test_clock_shift_expires_tokens_and_ends_contracts(sandbox: SandboxHandle) -> None:
    """Shifting the clock expires access tokens and makes contracts end."""
    token = sandbox.scim_token()
    sandbox.shift_clock(86400 + 60)
    answer = requests.get(
        sandbox.urls["scim_base"] + "/Users",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 401
    sandbox.shift_clock(200 * 86400)  # past Ingrid's contract end (+120 days)
    _, challenge = pkce_pair()
    with requests.Session() as http:
        refused = pick_card(http, sandbox, authorize_params(challenge), INGRID)
    assert refused.status_code == 403 and "signed off" in refused.text


def test_reset_restores_the_seed(sandbox: SandboxHandle) -> None:
    """reset undoes store changes and the clock shift."""
    sandbox.state.store.delete_user("87234")
    sandbox.shift_clock(3600)
    sandbox.reset()
    assert sandbox.state.store.find_user(INGRID) is not None
    assert sandbox.state.store.find_user(PIOTR) is not None
    assert sandbox.admin("GET", "clock")["offset_seconds"] == 0


def test_key_rotation_visible_in_jwks(fresh: SandboxHandle) -> None:
    """After rotation, tokens use the new kid and both keys are published during the grace."""
    old_kid = _header_kid(fresh.code_tokens(INGRID)["id_token"])
    new_kid = fresh.rotate_keys(grace_seconds=300)
    token = fresh.code_tokens(INGRID)["id_token"]
    assert _header_kid(token) == new_kid != old_kid
    kids = {k["kid"] for k in fresh.jwks()["keys"]}
    assert kids == {old_kid, new_kid}
    fresh.shift_clock(301)
    assert {k["kid"] for k in fresh.jwks()["keys"]} == {new_kid}


def test_rotation_without_grace_drops_the_old_key(fresh: SandboxHandle) -> None:
    """grace_seconds=0 removes the old key from the JWKS at once."""
    new_kid = fresh.rotate_keys(grace_seconds=0)
    assert [k["kid"] for k in fresh.jwks()["keys"]] == [new_kid]


def test_sign_with_unpublished_key(fresh: SandboxHandle) -> None:
    """rotate(publish=False) signs with a key the JWKS does not show until published."""
    new_kid = fresh.rotate_keys(publish=False)
    token = fresh.code_tokens(INGRID)["id_token"]
    assert _header_kid(token) == new_kid
    keys = fresh.key_set()
    assert new_kid not in {k["kid"] for k in fresh.jwks()["keys"]}
    with pytest.raises((JoseError, ValueError)):
        jwt.decode(token, keys, algorithms=["RS256"])
    fresh.publish_keys()
    keys = fresh.key_set()
    assert jwt.decode(token, keys, algorithms=["RS256"]).claims["sub"] == "87234"


def test_keys_persist_across_restart(tmp_path: Path) -> None:
    """Signing keys are kept in the data dir and reused on restart."""
    from rpkit.testing import sandbox_server

    with sandbox_server(tmp_path) as first:
        kids = {k["kid"] for k in first.jwks()["keys"]}
    with sandbox_server(tmp_path) as second:
        assert {k["kid"] for k in second.jwks()["keys"]} == kids


def test_reset_publishes_every_key_again(sandbox: SandboxHandle) -> None:
    """A rotation to an unpublished key does not leave the next test with an empty JWKS."""
    kid = sandbox.rotate_keys(grace_seconds=0, publish=False)
    assert sandbox.jwks()["keys"] == []
    sandbox.reset()
    assert [k["kid"] for k in sandbox.jwks()["keys"]] == [kid]
