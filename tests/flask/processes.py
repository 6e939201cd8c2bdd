"""Subprocess helpers: the sample app via ``python -m example_app`` and a private Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from .helpers import ROOT, free_port

REDIS_SERVER = Path(shutil.which("redis-server") or "/usr/bin/redis-server")


def wait_until(check: object, *, timeout: float = 90.0, what: str = "condition") -> None:
    """Poll ``check()`` until it is truthy (short back-off, bounded), else fail.

    The bound is generous on purpose: a process start normally answers within a second or
    two, but on a loaded 2-core CI machine it has taken over 20 s.
    """
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, requests.RequestException):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any RPKIT_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPKIT_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@contextmanager
def example_app_process(
    base_url: str, env: Mapping[str, str], cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m example_app`` until it answers ``/me``; stop it afterwards."""
    log = open(cwd / f"app-{base_url.rsplit(':', 1)[1]}.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "example_app"],
        env=dict(env),
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"example_app exited: {log.name}")
            return requests.get(f"{base_url}/me", timeout=2).status_code == 401

        # Generous: a loaded CI machine can take a while to import and generate keys.
        wait_until(ready, timeout=60, what=f"example_app at {base_url}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a unix socket; yields its ``unix://`` URL."""
    import redis

    directory = Path(tempfile.mkdtemp(prefix="rpkit-redis-", dir="/tmp"))
    socket = directory / "redis.sock"
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(unix_socket_path=str(socket))

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError("redis-server exited")
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(ready, what="redis-server")
        client.close()
        yield f"unix://{socket}"
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


class RedisProcess:
    """A throwaway redis-server on a loopback TCP port that can be stopped and restarted.

    Restarting binds the same port, as a restarted or failed-over Redis keeps its address:
    clients must reconnect on their own.
    """

    def __init__(self, directory: Path, *, persist: bool = False) -> None:
        self.directory = directory
        # Append-only file, synced on every write: data survives a restart, like a
        # production Redis with persistence.
        self.persist = persist
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        assert self._process is None, "redis-server is already running"
        self._process = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.persist else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        process = self._process

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"redis-server exited (port {self.port})")
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_until(ready, what="redis-server")
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server and wait until it is gone (its data goes with it)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._process = None


@contextmanager
def redis_process(*, persist: bool = False) -> Iterator[RedisProcess]:
    """A started :class:`RedisProcess` in a temporary directory; stopped afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="rpkit-redis-", dir="/tmp"))
    server = RedisProcess(directory, persist=persist)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
