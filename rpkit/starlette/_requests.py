"""Per-request helpers the Starlette extension and its routes share.

Owns: the worker-thread hand-off for blocking steps, and the request's correlation id.
Must not import: the extension or the views (both import it; so the package has no cycle).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from starlette.requests import Request

__all__ = [
    "DEFAULT_THREADS",
    "PAGE_THREADS",
    "correlation_id",
    "limit_threads",
    "offload",
    "offload_page",
]

T = TypeVar("T")

#: How many of rpkit's protocol steps run at once in one process's event loop
#: (``RPKIT_ASGI_THREADS``). Each step holds the GIL for its CPU part (signatures, XML,
#: JSON), and the event loop's thread waits its turn for the GIL among every thread that
#: wants it: with anyio's default of 40 threads, a burst of logins delays the loop by many
#: switch intervals (5 ms each). Fewer threads keep the loop's wait short; further steps
#: wait their turn off the loop. ``benchmarks/starlette_loop_lag.py`` measures both.
DEFAULT_THREADS = 8
#: Session loads and page renders have threads of their own, so that logins waiting for
#: a slow or unreachable provider never hold up the pages of crew already signed in.
PAGE_THREADS = 4

_threads = DEFAULT_THREADS
_limiters: RunVar[dict[str, CapacityLimiter]] = RunVar("rpkit_offload_limiters")


def limit_threads(threads: int) -> None:
    """Set how many protocol steps run at once (per event loop, for the whole process)."""
    global _threads
    _threads = threads


def _limiter(pool: str, size: int) -> CapacityLimiter:
    try:
        limiters = _limiters.get()
    except LookupError:
        limiters = {}
        _limiters.set(limiters)
    limiter = limiters.get(pool)
    if limiter is None:
        limiter = limiters[pool] = CapacityLimiter(size)
    elif limiter.total_tokens != size:
        limiter.total_tokens = size
    return limiter


async def offload(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking protocol step (it may call the provider or the store) in a worker
    thread, at most ``RPKIT_ASGI_THREADS`` at once."""
    return await anyio.to_thread.run_sync(func, *args, limiter=_limiter("steps", _threads))


async def offload_page(func: Callable[..., T], *args: Any) -> T:
    """Run a session load or a page render in a worker thread of their own pool
    (``PAGE_THREADS``), never queued behind protocol steps."""
    return await anyio.to_thread.run_sync(func, *args, limiter=_limiter("pages", PAGE_THREADS))


def correlation_id(request: Request) -> str:
    """This request's correlation id (logged with every error and shown to the user)."""
    value = getattr(request.state, "rpkit_correlation_id", None)
    if not isinstance(value, str):
        value = uuid.uuid4().hex
        request.state.rpkit_correlation_id = value
    return value
