"""The first-hour commands: versions, ``--help`` that starts nothing, a taken port named."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
from pathlib import Path

import rpkit

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_version_has_one_source() -> None:
    assert importlib.metadata.version("rpkit") == rpkit.__version__
    for argv in ([sys.executable, "-m", "rpkit", "--version"], ["rpkit", "--version"]):
        if argv[0] == "rpkit":
            argv[0] = str(Path(sys.executable).with_name("rpkit"))
        result = _run(*argv)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"rpkit {rpkit.__version__}"


def test_python_m_rpkit_is_the_cli() -> None:
    result = _run(sys.executable, "-m", "rpkit")
    assert result.returncode == 2
    assert "sandbox" in result.stdout


def test_sample_app_help_starts_nothing() -> None:
    result = _run(sys.executable, "-m", "example_app", "--help")
    assert result.returncode == 0
    assert "RPKIT_BASE_URL" in result.stdout
    assert "--port" in result.stdout
    assert "sample app: open" not in result.stdout


def test_demo_script_help_starts_nothing() -> None:
    result = _run("bash", str(ROOT / "scripts" / "demo"), "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: scripts/demo")


def test_taken_port_names_the_variable() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RPKIT_")} | {
            "RPKIT_BASE_URL": f"http://127.0.0.1:{port}"
        }
        result = _run(sys.executable, "-m", "example_app", env=env)
    assert result.returncode == 2
    assert "already in use" in result.stderr
    assert f"RPKIT_BASE_URL=http://127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
    # Nothing started: the embedded sandbox never printed its banner.
    assert "sample app: open" not in result.stdout


def test_port_flag_sets_listen_address_and_public_url(tmp_path: Path) -> None:
    from tests.flask.helpers import free_port
    from tests.flask.processes import wait_until

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPKIT_")} | {
        "RPKIT_SANDBOX_PORT": "0",
        "RPKIT_SANDBOX_DATA_DIR": str(tmp_path / "sandbox"),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "example_app", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        import requests

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return requests.get(f"http://127.0.0.1:{port}/me", timeout=2).status_code == 401
            except requests.ConnectionError:
                return False

        wait_until(ready, what="example_app --port")
        login = requests.get(
            f"http://127.0.0.1:{port}/auth/login/oidc", allow_redirects=False, timeout=5
        )
        assert login.status_code == 302
        # The public URL follows --port, so the redirect URI does too.
        assert f"127.0.0.1%3A{port}%2Fauth%2Foidc%2Fcallback" in login.headers["Location"]
    finally:
        process.terminate()
        process.wait(10)
    assert f"open http://127.0.0.1:{port}/" in log.read_text()
