"""Pending requests and the replay cache work on a real Redis (unix socket, tmp dir)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rpkit.errors import SamlResponseError
from rpkit.saml import ServiceProvider
from rpkit.store import RedisStore

from .idp import NOW, ResponseSpec, TestIdp


@pytest.fixture
def redis_store(tmp_path: Path) -> Iterator[RedisStore]:
    server = shutil.which("redis-server")
    assert server is not None, "redis-server is not installed: run scripts/bootstrap"
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [
            server,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60  # an upper bound: a loaded CI machine is slow
        while not sock.exists():
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not start")
            time.sleep(0.02)
        yield RedisStore(f"unix://{sock}", prefix="rpkit-test:")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_login_and_replay_cache_on_redis(
    idp: TestIdp, make_sp: Callable[..., ServiceProvider], redis_store: RedisStore
) -> None:
    """A login completes through Redis and the same response is then refused as a replay."""
    sp = make_sp()
    sp.store = redis_store
    login = sp.start_login()
    rid = login.pending.request_id
    b64 = idp.signed_response(ResponseSpec(in_response_to=rid, scd_in_response_to=rid))
    identity, _ = sp.complete_login(
        b64, login.pending.relay_state, browser_token=login.cookie.value, now=NOW
    )
    assert identity.subject == "crew-4711"
    with pytest.raises(SamlResponseError) as info:
        sp.process_response(b64, login.pending.relay_state, expected=login.pending, now=NOW)
    assert info.value.reason == "replay"
