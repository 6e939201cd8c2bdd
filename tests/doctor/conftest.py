"""Doctor fixtures: sandboxes over http and https, reset before every test, and a Redis."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rpkit.sandbox import env_block
from rpkit.testing import SandboxHandle, sandbox_server


@pytest.fixture(scope="module")
def _http_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with sandbox_server(tmp_path_factory.mktemp("doctor-http")) as handle:
        yield handle


@pytest.fixture(scope="module")
def _tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with sandbox_server(tmp_path_factory.mktemp("doctor-tls"), tls=True) as handle:
        yield handle


@pytest.fixture
def http_sandbox(_http_sandbox: SandboxHandle) -> SandboxHandle:
    """A plain-http sandbox on loopback, restored to its seed."""
    _http_sandbox.reset()
    return _http_sandbox


@pytest.fixture
def tls_sandbox(_tls_sandbox: SandboxHandle) -> SandboxHandle:
    """An https sandbox with its private CA (certificate for 127.0.0.1 and localhost)."""
    _tls_sandbox.reset()
    return _tls_sandbox


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a unix socket."""
    server = shutil.which("redis-server")
    assert server is not None, "redis-server is not installed: run scripts/bootstrap"
    directory = tmp_path_factory.mktemp("redis")
    sock = directory / "redis.sock"
    proc = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(sock), "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60  # an upper bound: a loaded CI machine is slow
        while not sock.exists():
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def app_env(sandbox: SandboxHandle, **extra: str) -> dict[str, str]:
    """The env block the sandbox prints, plus ``extra``."""
    return {**env_block(sandbox.state), **extra}


def demo_sp_files() -> tuple[Path, Path]:
    root = Path(__file__).resolve().parents[2] / "certs"
    return root / "demo-sp.key", root / "demo-sp.crt"
