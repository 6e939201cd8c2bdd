"""`rpkit sandbox <control>` drives a running sandbox over its admin API."""

from __future__ import annotations

import json

import pytest

from rpkit.cli import main
from rpkit.testing import SandboxHandle


def run(sandbox: SandboxHandle, *argv: str) -> int:
    return main(
        ["sandbox", *argv, "--url", sandbox.local_url, "--admin-token", sandbox.admin_token]
    )


def test_counts_prints_requests_per_endpoint(
    sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.jwks()
    assert run(sandbox, "counts") == 0
    assert json.loads(capsys.readouterr().out)["jwks"] == 1


def test_fault_then_clear(sandbox: SandboxHandle) -> None:
    assert run(sandbox, "fault", "jwks", "error", "--status", "503", "--times", "1") == 0
    import requests

    assert (
        requests.get(
            sandbox.local_url + "/auth/.well-known/openid-configuration/jwks", timeout=5
        ).status_code
        == 503
    )
    assert run(sandbox, "fault", "discovery", "error", "--status", "500") == 0
    assert run(sandbox, "clear-faults") == 0
    assert (
        requests.get(
            sandbox.local_url + "/auth/.well-known/openid-configuration", timeout=5
        ).status_code
        == 200
    )


def test_rotate_keys_unpublished_then_publish(sandbox: SandboxHandle) -> None:
    before = {k["kid"] for k in sandbox.jwks()["keys"]}
    assert run(sandbox, "rotate-keys", "--grace", "0", "--unpublished") == 0
    assert sandbox.jwks()["keys"] == []
    assert run(sandbox, "publish-keys") == 0
    after = {k["kid"] for k in sandbox.jwks()["keys"]}
    assert after and after != before


def test_next_claims_removes_rank_once(sandbox: SandboxHandle) -> None:
    assert run(sandbox, "next-claims", "rank=null", 'ship_name="MV Test"') == 0
    tokens = sandbox.code_tokens("ingrid.larsen@nordic-aurora.example")
    from joserfc import jwt

    claims = jwt.decode(tokens["id_token"], sandbox.key_set()).claims
    assert "rank" not in claims and claims["ship_name"] == "MV Test"


def test_clock_advance(sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(sandbox, "clock", "--advance", "3600") == 0
    assert json.loads(capsys.readouterr().out)["offset_seconds"] == pytest.approx(3600, abs=1)


def test_bad_claim_syntax_is_refused_with_a_message(
    sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(sandbox, "next-claims", "rank") != 0
    assert "NAME=VALUE" in capsys.readouterr().err


def test_unreachable_sandbox_exits_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "counts", "--url", "http://127.0.0.1:9", "--admin-token", "x" * 20])
    assert code == 1
    assert "admin API" in capsys.readouterr().err


def test_counts_by_method(sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.jwks()
    assert run(sandbox, "counts", "--by-method") == 0
    assert json.loads(capsys.readouterr().out)["jwks"] == {"GET": 1}


def test_latency_after_handling(sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(sandbox, "fault", "jwks", "latency", "--delay", "0.01", "--when", "after") == 0
    assert '"when": "after"' in capsys.readouterr().out


def test_metadata_fault_expires_the_saml_metadata(sandbox: SandboxHandle) -> None:
    """`rpkit sandbox metadata --valid-for -3600` serves metadata whose validUntil passed."""
    import re
    from datetime import UTC, datetime

    import requests

    def valid_until() -> datetime:
        xml = requests.get(sandbox.local_url + "/auth/saml/metadata", timeout=5).text
        found = re.search(r'validUntil="([^"]+)"', xml)
        assert found is not None
        return datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))

    assert valid_until() > datetime.now(UTC)
    assert run(sandbox, "metadata", "--valid-for", "-3600") == 0
    assert (datetime.now(UTC) - valid_until()).total_seconds() > 3500
    sandbox.reset()
    assert valid_until() > datetime.now(UTC)


def test_client_secret_control_makes_the_old_secret_wrong(sandbox: SandboxHandle) -> None:
    """After `rpkit sandbox client-secret`, the configured secret is invalid_client; reset
    restores it."""
    import requests

    def token_error(secret: str) -> str:
        response = requests.post(
            sandbox.local_url + "/auth/connect/token",
            data={"grant_type": "client_credentials", "scope": "crew_read"},
            auth=("rpkit-scim", secret),
            timeout=5,
        )
        return str(response.json().get("error", "ok"))

    assert token_error("rpkit-scim-secret") == "ok"
    assert run(sandbox, "client-secret", "rpkit-scim", "rotated-in-the-portal") == 0
    assert token_error("rpkit-scim-secret") == "invalid_client"
    assert token_error("rotated-in-the-portal") == "ok"
    sandbox.reset()
    assert token_error("rpkit-scim-secret") == "ok"
    assert run(sandbox, "client-secret", "nobody", "x") == 1


def test_counts_by_status_show_what_each_endpoint_answered(
    sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    """`counts --by-status` tells a refused token request from an issued token."""
    import requests

    url = sandbox.local_url + "/auth/connect/token"
    form = {"grant_type": "client_credentials", "scope": "crew_read"}
    requests.post(url, data=form, auth=("rpkit-scim", "rpkit-scim-secret"), timeout=5)
    requests.post(url, data=form, auth=("rpkit-scim", "wrong"), timeout=5)
    assert run(sandbox, "counts", "--by-status") == 0
    assert json.loads(capsys.readouterr().out)["token"] == {"200": 1, "401": 1}
    assert sandbox.response_counts()["token"] == {"200": 1, "401": 1}
