"""Where per-login state, replay caches and last-known-good copies live.

``StateStore`` is the small protocol the flows need: values with a lifetime, an atomic
take-once (``pop``, so a state or a pending SAML request is single-use even across several
app processes) and an atomic set-if-absent (``add``, for replay caches). ``MemoryStore`` is
the default; ``RedisStore`` shares state between processes. ``FileCache`` keeps the
last-known-good discovery document, JWKS and SAML metadata on disk for restarts at sea.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import ConfigurationError

__all__ = ["FileCache", "MemoryStore", "RedisStore", "StateStore"]


@runtime_checkable
class StateStore(Protocol):
    """Key-value storage with lifetimes; implementations must make ``pop``/``add`` atomic."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: timedelta) -> None: ...

    def pop(self, key: str) -> bytes | None: ...

    def add(self, key: str, value: bytes, ttl: timedelta) -> bool: ...

    def delete(self, key: str) -> None: ...


class MemoryStore:
    """A process-local ``StateStore``; entries expire lazily."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._data[key]
            return None
        return item[0]

    def _sweep(self) -> None:
        # Bound memory under a flood of abandoned logins: drop expired entries now and then.
        if len(self._data) % 1024 == 0:
            now = self._clock()
            for k in [k for k, (_, exp) in self._data.items() if exp <= now]:
                del self._data[k]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: bytes, ttl: timedelta) -> None:
        with self._lock:
            self._data[key] = (value, self._clock() + ttl.total_seconds())
            self._sweep()

    def pop(self, key: str) -> bytes | None:
        with self._lock:
            value = self._live(key)
            self._data.pop(key, None)
            return value

    def add(self, key: str, value: bytes, ttl: timedelta) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, self._clock() + ttl.total_seconds())
            self._sweep()
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisStore:
    """A ``StateStore`` on Redis, shared by every app process behind a load balancer."""

    def __init__(self, url: str, *, prefix: str = "rpkit:", client: Any = None) -> None:
        try:
            import redis
        except ImportError as err:  # pragma: no cover - depends on the install
            raise ConfigurationError('RedisStore needs the "redis" extra: rpkit[redis]') from err
        self._redis = client if client is not None else redis.Redis.from_url(url)
        self._prefix = prefix

    def get(self, key: str) -> bytes | None:
        return _as_bytes(self._redis.get(self._prefix + key))

    def set(self, key: str, value: bytes, ttl: timedelta) -> None:
        self._redis.set(self._prefix + key, value, px=_millis(ttl))

    def pop(self, key: str) -> bytes | None:
        return _as_bytes(self._redis.getdel(self._prefix + key))

    def add(self, key: str, value: bytes, ttl: timedelta) -> bool:
        return bool(self._redis.set(self._prefix + key, value, px=_millis(ttl), nx=True))

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


def _as_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


def _millis(ttl: timedelta) -> int:
    return max(1, int(ttl.total_seconds() * 1000))


class FileCache:
    """Last-known-good JSON documents on disk, written atomically, read with a max age."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.directory / f"{safe}.json"

    def write(self, name: str, document: Any, *, now: float | None = None) -> None:
        """Store ``document``; failures to write are not fatal to the caller's request."""
        stored = {"stored_at": time.time() if now is None else now, "document": document}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(stored, fh)
            os.replace(tmp, self._path(name))
        except OSError:
            return

    def read(self, name: str, *, max_age: timedelta, now: float | None = None) -> Any | None:
        """Return the document if present and younger than ``max_age``."""
        try:
            stored = json.loads(self._path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or not isinstance(stored.get("stored_at"), int | float):
            return None
        age = (time.time() if now is None else now) - float(stored["stored_at"])
        if age > max_age.total_seconds() or age < -300:
            return None
        return stored.get("document")
