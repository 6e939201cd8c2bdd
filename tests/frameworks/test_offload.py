"""The FastAPI/Starlette adapter's worker threads: at most ``RPKIT_ASGI_THREADS`` at once.

Each blocking step of the sync core (a token request, a signature check) runs in a worker
thread; the event loop's thread competes with every running one for the GIL, so rpkit
bounds how many run at once (``benchmarks/starlette_loop_lag.py`` measures the loop).
"""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
import pytest

from rpkit.starlette import Rpkit, offload
from rpkit.starlette._requests import offload_page
from rpkit.web.settings import Settings


def _most_at_once(steps: int, expected: int) -> int:
    """Run ``steps`` blocking steps through ``offload`` together; how many overlapped.

    Each step holds its thread until ``expected`` steps ran at once (so a limit that works
    is reached however slow the machine), then a moment longer, in which a step the limit
    should have held back would start and show in the count."""
    lock = threading.Condition()
    running = [0, 0]  # now, most

    def step() -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
            lock.notify_all()
            lock.wait_for(lambda: running[1] >= expected, timeout=30)
        threading.Event().wait(0.05)
        with lock:
            running[0] -= 1

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(steps):
                group.start_soon(offload, step)

    anyio.run(main)
    return running[1]


@pytest.mark.parametrize("threads", [1, 3])
def test_offload_runs_at_most_the_configured_steps_at_once(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPKIT_ASGI_THREADS", str(threads))
    Rpkit({})
    assert _most_at_once(threads + 4, threads) == threads


def test_the_default_is_eight_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RPKIT_ASGI_THREADS", raising=False)
    assert Settings.from_config({}, environ={}).asgi_threads == 8
    Rpkit({})
    assert _most_at_once(12, 8) == 8


def test_pages_are_not_queued_behind_protocol_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every protocol-step thread stuck (a provider that does not answer): a session load
    or a page render still runs at once, in its own pool."""
    monkeypatch.setenv("RPKIT_ASGI_THREADS", "2")
    Rpkit({})
    stuck = threading.Event()
    started = threading.Semaphore(0)

    def provider_call() -> None:
        started.release()
        stuck.wait(30)

    async def main() -> str:
        async with anyio.create_task_group() as group:
            for _ in range(3):  # one more than the pool: it waits its turn
                group.start_soon(offload, provider_call)
            for _ in range(2):
                await anyio.to_thread.run_sync(started.acquire)
            try:
                with anyio.fail_after(10):
                    page = await offload_page(lambda: "page")
            finally:
                stuck.set()
        return page

    assert anyio.run(main) == "page"


def test_the_fastapi_sample_app_freezes_its_startup_heap() -> None:
    """Before serving, the sample app moves its startup objects out of the collector's
    reach, so a full collection under load does not stop the loop for tens of ms."""
    import gc

    from fastapi.testclient import TestClient

    from example_app.fastapi import create_app

    gc.unfreeze()
    app = create_app({"RPKIT_SANDBOX": "off"})
    assert gc.get_freeze_count() == 0
    try:
        with TestClient(app) as client:
            assert gc.get_freeze_count() > 0
            assert client.get("/auth/login").status_code == 404  # serving: nothing configured
    finally:
        gc.unfreeze()  # the rest of this test process collects as usual
