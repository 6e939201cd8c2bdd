"""The sandbox's access log: its own logger, and no credential in a logged URL."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
import requests

from rpkit.cli import main as rpkit_main
from rpkit.sandbox.server import redact_url
from rpkit.testing import sandbox_server


@pytest.mark.parametrize(
    "name",
    [
        "code",
        "id_token_hint",
        "SAMLRequest",
        "SAMLResponse",
        "Signature",
        "logout_token",
        "client_secret",
        "refresh_token",
        "access_token",
        "password",
    ],
)
def test_credentials_are_redacted(name: str) -> None:
    shown = redact_url(f"/auth/x?state=abc&{name}=SECRET-VALUE&x=1")
    assert "SECRET-VALUE" not in shown
    assert f"{name}=[redacted]" in shown
    assert "state=abc" in shown and "x=1" in shown


def test_access_log_has_its_own_logger_and_no_tokens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with sandbox_server(tmp_path) as sandbox:
        requests.get(
            f"{sandbox.issuer}/connect/endsession",
            params={"id_token_hint": "eyJSECRET.PAYLOAD.SIG", "state": "s1"},
            timeout=5,
        )
    lines = [r for r in caplog.records if "endsession" in r.getMessage()]
    assert lines, "the request was not logged"
    assert {r.name for r in lines} == {"rpkit.sandbox.access"}  # not the app's "werkzeug"
    text = "\n".join(r.getMessage() for r in lines)
    assert "eyJSECRET" not in text and "id_token_hint=[redacted]" in text


def test_embedded_sandbox_stores_its_admin_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's in-process sandbox keeps its admin token where the CLI controls look."""
    from example_app import sandbox as embedded

    data_dir = tmp_path / "sb"
    base = "http://127.0.0.1:5999"
    env = embedded.sandbox_env(
        base, {"RPKIT_SANDBOX_PORT": "0", "RPKIT_SANDBOX_DATA_DIR": str(data_dir)}
    )
    server = embedded._running.pop(base)
    try:
        token_file = data_dir / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text().strip() == server.state.config.admin_token
        url = env["RPKIT_OIDC_ISSUER"].removesuffix("/auth")
        requests.get(f"{url}/auth/.well-known/openid-configuration", timeout=5)
        assert rpkit_main(["sandbox", "counts", "--url", url, "--data-dir", str(data_dir)]) == 0
        counts = json.loads(capsys.readouterr().out)
        assert counts == {"discovery": 1}  # the admin API took the token from the file
    finally:
        server.stop()


def test_admin_tokens_never_look_like_options(tmp_path: Path) -> None:
    """A generated admin token is hex, so `--admin-token <token>` always parses."""
    from rpkit.sandbox.config import SandboxConfig, stored_admin_token

    tokens = [SandboxConfig(data_dir=tmp_path).admin_token for _ in range(200)]
    tokens.append(stored_admin_token(tmp_path / "fresh"))
    assert all(len(t) == 48 and int(t, 16) >= 0 for t in tokens)
