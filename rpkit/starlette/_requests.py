"""Per-request helpers the Starlette extension and its routes share.

Owns: the worker-thread hand-off for blocking steps, and the request's correlation id.
Must not import: the extension or the views (both import it; so the package has no cycle).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

__all__ = ["correlation_id", "offload"]

T = TypeVar("T")


async def offload(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking step of the sync core in the worker-thread pool."""
    return await run_in_threadpool(func, *args)


def correlation_id(request: Request) -> str:
    """This request's correlation id (logged with every error and shown to the user)."""
    value = getattr(request.state, "rpkit_correlation_id", None)
    if not isinstance(value, str):
        value = uuid.uuid4().hex
        request.state.rpkit_correlation_id = value
    return value
