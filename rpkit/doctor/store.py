"""The ``redis`` check: the shared session store answers, and how fast."""

from __future__ import annotations

import statistics
import time
from urllib.parse import urlsplit, urlunsplit

from .report import CheckResult, fail

__all__ = ["check_redis"]

_PINGS = 3


def _shown(url: str) -> str:
    """The URL without its password (a Redis URL may carry one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urlunsplit(parts._replace(netloc=netloc))


def check_redis(url: str | None) -> CheckResult:
    """PING the Redis of ``RPKIT_REDIS_URL`` a few times; report the median round trip."""
    if not url:
        return CheckResult(
            id="redis",
            status="skip",
            message="RPKIT_REDIS_URL is not set: sessions and pending logins stay in one "
            "process's memory",
        )
    try:
        import redis
    except ImportError:
        return fail(
            "redis",
            "RPKIT_REDIS_URL is set but the redis client is not installed",
            fix="pip install rpkit[redis]",
        )
    shown = _shown(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        times = []
        for _ in range(_PINGS):
            start = time.perf_counter()
            client.ping()
            times.append(time.perf_counter() - start)
        client.close()
    except (redis.RedisError, OSError, ValueError) as err:
        return fail(
            "redis",
            f"{shown} does not answer ({type(err).__name__})",
            fix="start Redis, or correct RPKIT_REDIS_URL (redis://host:6379/0)",
        )
    return CheckResult(
        id="redis",
        status="ok",
        message=f"{shown} answers PING; round trip {statistics.median(times) * 1000:.1f} ms",
    )
