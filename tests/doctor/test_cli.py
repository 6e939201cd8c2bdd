"""The `rpkit doctor` command: table and --json output, exit codes, --env-file, --only, and
the acceptance run against a separately started `rpkit sandbox --tls`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rpkit.cli import main
from rpkit.doctor import CHECK_IDS
from rpkit.doctor.setup import read_env_file
from rpkit.errors import ConfigurationError
from rpkit.testing import SandboxHandle

from .conftest import app_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "doctor.md"


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Replace every RPKIT_* variable of this process by ``env``."""
    for name in list(os.environ):
        if name.startswith("RPKIT_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def assert_documented_shape(data: Any) -> None:
    """``{"ok": bool, "checks": [{"id", "status", "message", "fix"}]}``, ids from the contract."""
    assert isinstance(data, dict) and set(data) == {"ok", "checks"}
    assert isinstance(data["ok"], bool)
    assert isinstance(data["checks"], list) and data["checks"]
    for check in data["checks"]:
        assert set(check) == {"id", "status", "message", "fix"}
        assert check["id"] in CHECK_IDS
        assert check["status"] in ("ok", "warn", "fail", "skip")
        assert isinstance(check["message"], str) and check["message"]
        assert isinstance(check["fix"], str)
    ids = [c["id"] for c in data["checks"]]
    assert ids == sorted(ids, key=CHECK_IDS.index)
    assert data["ok"] == all(c["status"] != "fail" for c in data["checks"])


def test_json_matches_the_documented_shape(
    tls_sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints the documented shape; a failing check makes ok false and exit 1."""
    use_env(monkeypatch, app_env(tls_sandbox))
    assert main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert_documented_shape(data)
    assert data["ok"] is True and len(data["checks"]) == len(CHECK_IDS)
    tls_sandbox.serve_tls_certificate("expired")
    assert main(["doctor", "--json", "--only", "oidc"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert_documented_shape(data)
    assert data["ok"] is False
    assert [c["status"] for c in data["checks"] if c["id"] == "oidc.tls"] == ["fail"]


def test_docs_list_every_check_id_and_the_shape() -> None:
    """docs/doctor.md documents exactly the check ids the code has, and the JSON shape."""
    text = DOC.read_text(encoding="utf-8")
    documented = re.findall(r"^\| `([a-z_.]+)` \|", text, flags=re.MULTILINE)
    assert documented == list(CHECK_IDS)
    assert '{"ok": bool, "checks": [{"id", "status", "message", "fix"}]}' in text
    example = re.search(r"```json\n(.*?)```", text, flags=re.DOTALL)
    assert example is not None
    assert_documented_shape(json.loads(example.group(1)))


def test_table_output_and_exit_code(
    http_sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table has a row per check with status and fix; a failure exits 1."""
    env = app_env(http_sandbox)
    http_sandbox.set_client_secret("rpkit-demo", "rotated")
    use_env(monkeypatch, env)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    for check_id in CHECK_IDS:
        assert re.search(rf"^{re.escape(check_id)}\s+(ok|warn|fail|skip)\s", out, re.MULTILINE)
    assert re.search(r"^oidc\.client_auth\s+fail\s", out, re.MULTILINE)
    assert "fix: set RPKIT_OIDC_CLIENT_SECRET" in out
    assert "a check failed." in out


def test_env_file_overrides_the_environment(
    http_sandbox: SandboxHandle,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """--env-file values (quotes, export, comments allowed) win over the environment."""
    env = app_env(http_sandbox)
    use_env(monkeypatch, {**env, "RPKIT_OIDC_CLIENT_SECRET": "wrong"})
    env_file = tmp_path / "app.env"
    env_file.write_text(
        "# the app's settings\n"
        f"export RPKIT_OIDC_CLIENT_SECRET='{env['RPKIT_OIDC_CLIENT_SECRET']}'\n"
        'RPKIT_BASE_URL="http://127.0.0.1:5000"  # default\n',
        encoding="utf-8",
    )
    assert main(["doctor", "--json", "--only", "oidc", "--env-file", str(env_file)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert str(env_file) in data["checks"][0]["message"]


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --only group or an unreadable env file is a usage error: exit 2."""
    with pytest.raises(SystemExit) as exc:
        main(["doctor", "--only", "ldap"])
    assert exc.value.code == 2
    assert main(["doctor", "--env-file", str(tmp_path / "missing.env")]) == 2
    assert "not readable" in capsys.readouterr().err
    bad = tmp_path / "bad.env"
    bad.write_text("RPKIT_BASE_URL\n", encoding="utf-8")
    assert main(["doctor", "--env-file", str(bad)]) == 2


def test_env_file_parsing(tmp_path: Path) -> None:
    """KEY=VALUE with export, quotes and comments; anything else is refused with its line."""
    path = tmp_path / "a.env"
    path.write_text("A=1\nexport B='two words'\n\n# c\nC=\"x # y\"  # z\nD=\n", encoding="utf-8")
    assert read_env_file(path) == {"A": "1", "B": "two words", "C": "x # y", "D": ""}
    path.write_text("A='open\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="line 1"):
        read_env_file(path)


def _read_env_block(proc: subprocess.Popen[str], deadline: float) -> dict[str, str]:
    assert proc.stdout is not None
    env: dict[str, str] = {}
    for line in proc.stdout:
        match = re.match(r"^(RPKIT_[A-Z_]+)=(.*)$", line.rstrip("\n"))
        if match:
            env[match.group(1)] = match.group(2)
        if line.startswith("Seeded crew") or time.monotonic() > deadline:
            break
    return env


def test_acceptance_fresh_tls_sandbox_with_its_printed_env(tmp_path: Path) -> None:
    """`rpkit sandbox --tls` in its own process; `rpkit doctor` with the env it printed exits 0
    and prints the table."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RPKIT_")}
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rpkit",
            "sandbox",
            "--tls",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=base,
    )
    try:
        env = _read_env_block(sandbox, time.monotonic() + 60)
        assert env["RPKIT_OIDC_ISSUER"].startswith("https://127.0.0.1:")
        assert env["RPKIT_CA_BUNDLE"] == str((tmp_path / "tls" / "ca.crt").resolve())
        doctor = subprocess.run(
            [sys.executable, "-m", "rpkit", "doctor"],
            capture_output=True,
            text=True,
            env={**base, **env},
            timeout=120,
        )
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        for check_id in CHECK_IDS:
            assert re.search(rf"^{re.escape(check_id)}\s+(ok|skip)\s", doctor.stdout, re.MULTILINE)
        assert "no check failed." in doctor.stdout
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
