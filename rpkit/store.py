"""Where per-login state, replay caches, sessions and last-known-good copies live.

``StateStore`` is the small protocol the flows need: values with a lifetime, an atomic
take-once (``pop``, so a state or a pending SAML request is single-use even across several
app processes), an atomic set-if-absent (``add``, for replay caches), and for sessions a
``Batch`` of writes that land together (``commit``) plus indexes (a user's sessions) that
are added to and removed from without being read. ``TakingStore`` adds ``commit_taking``:
a batch that also takes a pending entry (checked field by field), so a login's whole
store work is one round trip. ``MemoryStore`` is the default for one
process, bounded by a cap; ``RedisStore`` shares state between processes. ``FileCache``
keeps the last-known-good discovery document, JWKS and SAML metadata on disk for restarts
at sea.

Owns: the ``StateStore`` protocol, the memory and Redis stores and the disk cache.
Must not import: a protocol, ``rpkit._http`` or a web layer (floor 1).
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._clock import Clock
from .errors import ConfigurationError, StoreUnavailableError

__all__ = [
    "Batch",
    "Committed",
    "FileCache",
    "MemoryStore",
    "RedisStore",
    "StateStore",
    "TakingStore",
]

log = logging.getLogger("rpkit.store")

DEFAULT_MAX_ENTRIES = 100_000


@dataclass(slots=True)
class Batch:
    """Writes that land together, all or none: one Lua script (one round trip) on Redis.

    ``take`` entries (``TakingStore.commit_taking`` only) come first: each names a stored
    JSON object that must exist and whose fields must equal the given strings; it is
    removed whatever the outcome (a pending login is single-use, also when refused), and
    when it is absent or a field differs nothing else is written. ``guard`` entries are
    set-if-absent; when any guard's key already exists, ``commit`` writes nothing and
    returns False (a replayed assertion creates no session). Index entries file a stored
    key under an index key (a user's sessions); they expire with the key they name and are
    removed without reading the index.
    """

    takes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    guards: list[tuple[str, bytes, timedelta]] = field(default_factory=list)
    sets: list[tuple[str, bytes, timedelta]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    index_adds: list[tuple[str, str, timedelta]] = field(default_factory=list)
    index_removes: list[tuple[str, str]] = field(default_factory=list)

    def take(self, key: str, expect: dict[str, str]) -> Batch:
        """Remove the JSON object at ``key``; refuse the batch unless it exists and each
        field named in ``expect`` equals its string."""
        self.takes.append((key, dict(expect)))
        return self

    def guard(self, key: str, value: bytes, ttl: timedelta) -> Batch:
        self.guards.append((key, value, ttl))
        return self

    def set(self, key: str, value: bytes, ttl: timedelta) -> Batch:
        self.sets.append((key, value, ttl))
        return self

    def delete(self, key: str) -> Batch:
        self.deletes.append(key)
        return self

    def index_add(self, index: str, key: str, ttl: timedelta) -> Batch:
        """File ``key`` under ``index`` until ``ttl`` (the lifetime of ``key`` itself)."""
        self.index_adds.append((index, key, ttl))
        return self

    def index_remove(self, index: str, key: str) -> Batch:
        self.index_removes.append((index, key))
        return self


@runtime_checkable
class StateStore(Protocol):
    """Key-value storage with lifetimes; ``pop``/``add``/``commit``/``end_indexed`` are atomic."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: timedelta) -> None: ...

    def pop(self, key: str) -> bytes | None: ...

    def add(self, key: str, value: bytes, ttl: timedelta) -> bool: ...

    def delete(self, key: str) -> None: ...

    def commit(self, batch: Batch) -> bool:
        """Apply ``batch`` atomically; False (and nothing written) when a guard key exists."""
        ...

    def indexed(self, index: str) -> list[tuple[str, bytes]]:
        """The live keys filed under ``index``, with their values."""
        ...

    def end_indexed(self, index: str) -> int:
        """Delete ``index`` and every key filed under it, atomically; return how many lived."""
        ...


@dataclass(frozen=True, slots=True)
class Committed:
    """What ``TakingStore.commit_taking`` did; true when the batch landed.

    ``taken``: the values the batch's takes removed, in order, when it landed.
    ``refused``: why it did not: ``"missing"`` (a take's key is absent: expired, used or
    never stored), the name of the field a taken value did not match, or ``"guard"``
    (a guard key exists: a replay).
    """

    landed: bool
    taken: tuple[bytes, ...] = ()
    refused: str | None = None

    def __bool__(self) -> bool:
        return self.landed


@runtime_checkable
class TakingStore(StateStore, Protocol):
    """A ``StateStore`` whose batches can also take entries (``Batch.take``), atomically
    with the writes: a login's take of its pending entry, its replay guard and its session
    land in one round trip. ``MemoryStore`` and ``RedisStore`` are; a store of your own
    need not be (the flows then take first and commit after, two round trips)."""

    def commit_taking(self, batch: Batch) -> Committed:
        """Apply ``batch`` with its takes atomically (see ``Batch``)."""
        ...


def _mismatch(value: bytes, expect: dict[str, str]) -> str | None:
    """The first field of ``expect`` that the JSON object ``value`` does not match."""
    try:
        found = json.loads(value)
    except ValueError:
        return next(iter(expect), "value")
    if not isinstance(found, dict):
        return next(iter(expect), "value")
    return next((name for name, want in expect.items() if found.get(name) != want), None)


class MemoryStore:
    """A ``StateStore`` in this process's memory, for one process only.

    Expired entries are evicted as writes arrive (a heap ordered by expiry, so no scan),
    and beyond ``max_entries`` the least recently used session or pending login goes: a
    long-running worker holds at most ``max_entries`` of them, whatever the login rate.
    Replay-cache entries (``add`` and batch guards) are never dropped early, since a dropped
    one would accept the replay it exists to refuse; they leave when they expire, so they
    number at most the logins of one assertion lifetime.
    """

    def __init__(
        self,
        clock: Clock | Callable[[], float] = time.monotonic,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        # Expiry is a duration measured in this process: the monotonic clock.
        monotonic = clock.monotonic if isinstance(clock, Clock) else clock
        if max_entries < 1:
            raise ConfigurationError("MemoryStore max_entries must be at least 1")
        self.max_entries = max_entries
        self.evicted = 0  # entries dropped by the cap (not by expiry), for monitoring
        self._data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._kept: dict[str, tuple[bytes, float]] = {}  # replay entries: expiry only
        self._expiries: list[tuple[float, str]] = []
        # index -> {key: expiry}; key -> the indexes that name it (to unfile on eviction)
        self._indexes: dict[str, dict[str, float]] = {}
        self._filed: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._clock = monotonic

    def __len__(self) -> int:
        return len(self._data) + len(self._kept)

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key) or self._kept.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            self._drop(key)
            return None
        if key in self._data:
            self._data.move_to_end(key)
        return item[0]

    def _drop(self, key: str) -> bool:
        found = (self._data.pop(key, None) or self._kept.pop(key, None)) is not None
        for index in self._filed.pop(key, ()):
            members = self._indexes.get(index)
            if members is not None:
                members.pop(key, None)
                if not members:
                    del self._indexes[index]
        return found

    def _put(self, key: str, value: bytes, ttl: timedelta, *, keep: bool = False) -> None:
        now = self._clock()
        expiry = now + ttl.total_seconds()
        if keep:
            self._data.pop(key, None)
            self._kept[key] = (value, expiry)
        else:
            self._kept.pop(key, None)
            self._data[key] = (value, expiry)
            self._data.move_to_end(key)
        heapq.heappush(self._expiries, (expiry, key))
        self._evict(now)

    def _evict(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            expiry, key = heapq.heappop(expiries)
            item = self._data.get(key) or self._kept.get(key)
            if item is not None and item[1] == expiry:
                self._drop(key)
        while len(self._data) > self.max_entries:
            oldest = next(iter(self._data))
            self._drop(oldest)
            self.evicted += 1
            if self.evicted == 1:
                log.warning(
                    "rpkit: the memory store reached its cap of %d entries; the least "
                    "recently used sessions and pending logins are dropped (raise the cap "
                    "or use Redis)",
                    self.max_entries,
                )
        # Overwritten and evicted keys leave stale heap entries: rebuild when they dominate.
        if len(expiries) > 2 * len(self) + 1024:
            items = [*self._data.items(), *self._kept.items()]
            self._expiries = [(exp, k) for k, (_, exp) in items]
            heapq.heapify(self._expiries)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: bytes, ttl: timedelta) -> None:
        with self._lock:
            self._put(key, value, ttl)

    def pop(self, key: str) -> bytes | None:
        with self._lock:
            value = self._live(key)
            self._drop(key)
            return value

    def add(self, key: str, value: bytes, ttl: timedelta) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._put(key, value, ttl, keep=True)
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def commit(self, batch: Batch) -> bool:
        return self.commit_taking(batch).landed

    def commit_taking(self, batch: Batch) -> Committed:
        with self._lock:
            taken = []
            for key, expect in batch.takes:
                value = self._live(key)
                self._drop(key)
                if value is None:
                    return Committed(False, refused="missing")
                if (field_name := _mismatch(value, expect)) is not None:
                    return Committed(False, refused=field_name)
                taken.append(value)
            if any(self._live(key) is not None for key, _, _ in batch.guards):
                return Committed(False, refused="guard")
            for key, value, ttl in batch.guards:
                self._put(key, value, ttl, keep=True)
            for key in batch.deletes:
                self._drop(key)
            for index, key in batch.index_removes:
                self._indexes.get(index, {}).pop(key, None)
                self._filed.get(key, set()).discard(index)
            for key, value, ttl in batch.sets:
                self._put(key, value, ttl)
            for index, key, _ttl in batch.index_adds:
                if key in self._data:  # filed only while the key lives (it may be evicted)
                    self._indexes.setdefault(index, {})[key] = self._data[key][1]
                    self._filed.setdefault(key, set()).add(index)
            return Committed(True, taken=tuple(taken))

    def indexed(self, index: str) -> list[tuple[str, bytes]]:
        with self._lock:
            found = []
            for key in list(self._indexes.get(index, {})):
                value = self._live(key)
                if value is not None:
                    found.append((key, value))
            return found

    def end_indexed(self, index: str) -> int:
        with self._lock:
            members = self._indexes.pop(index, {})
            ended = 0
            for key in members:
                if self._live(key) is not None:
                    ended += 1
                self._drop(key)
            return ended


# One round trip per commit: takes first (each deleted whatever the outcome: single use;
# absent or a field that differs aborts before any other write), then guards (SET NX; any
# refusal aborts before a write), then deletes, index removals, sets and index additions.
# Returns {1, taken values...} or {0, why}. A field compare in Lua is not constant-time:
# the fields compared are hashes and ids, never a secret the caller sent as is. An index is
# a sorted set scored by the expiry of the key it files, so expired members are trimmed by
# score (never by a scan) and the index itself expires with its newest member.
_COMMIT = """
local now = tonumber(ARGV[1])
local prefix = ARGV[2]
local i = 3
local taken = {1}
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local key, fields = prefix .. ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local value = redis.call('GET', key)
  if not value then return {0, 'missing'} end
  redis.call('DEL', key)
  local ok, found = pcall(cjson.decode, value)
  for _ = 1, fields do
    if not ok or type(found) ~= 'table' or found[ARGV[i]] ~= ARGV[i + 1] then
      return {0, ARGV[i]}
    end
    i = i + 2
  end
  taken[#taken + 1] = value
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  if not redis.call('SET', prefix .. ARGV[i], ARGV[i + 1], 'PX', ARGV[i + 2], 'NX') then
    return {0, 'guard'}
  end
  i = i + 3
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('DEL', prefix .. ARGV[i]); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('ZREM', prefix .. ARGV[i], ARGV[i + 1]); i = i + 2 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('SET', prefix .. ARGV[i], ARGV[i + 1], 'PX', ARGV[i + 2]); i = i + 3
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local index, ttl = prefix .. ARGV[i], tonumber(ARGV[i + 2])
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  redis.call('ZADD', index, now + ttl, ARGV[i + 1])
  if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
  i = i + 3
end
return taken
"""

_END_INDEXED = """
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
local ended = 0
for _, key in ipairs(members) do ended = ended + redis.call('DEL', ARGV[1] .. key) end
return ended
"""


class RedisStore:
    """A ``StateStore`` on Redis, shared by every app process behind a load balancer.

    Needs a single Redis (or a primary with replicas), not Redis Cluster: the commit
    script touches keys it derives from its arguments.

    Every command that fails (Redis stopped, restarting, unreachable, timed out) raises
    ``StoreUnavailableError``: the web layer answers 503 and the next request after Redis
    returns works again; the client reconnects on its own.
    """

    def __init__(
        self, url: str, *, prefix: str = "rpkit:", client: Any = None, clock: Clock | None = None
    ) -> None:
        try:
            import redis
        except ImportError as err:  # pragma: no cover - depends on the install
            raise ConfigurationError('RedisStore needs the "redis" extra: rpkit[redis]') from err
        self._redis = client if client is not None else redis.Redis.from_url(url)
        self._wall = (clock or Clock()).wall
        self._prefix = prefix
        self._commit = self._redis.register_script(_COMMIT)
        self._end_indexed = self._redis.register_script(_END_INDEXED)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)

    @contextmanager
    def _reachable(self, command: str) -> Iterator[None]:
        """Turn any Redis failure of ``command`` into ``StoreUnavailableError``."""
        try:
            yield
        except self._errors as err:
            # The type only: a Redis error's text can carry the server address.
            raise StoreUnavailableError(
                f"the state store (Redis) failed on {command}: {type(err).__name__}"
            ) from err

    def get(self, key: str) -> bytes | None:
        with self._reachable("GET"):
            return _as_bytes(self._redis.get(self._prefix + key))

    def set(self, key: str, value: bytes, ttl: timedelta) -> None:
        with self._reachable("SET"):
            self._redis.set(self._prefix + key, value, px=_millis(ttl))

    def pop(self, key: str) -> bytes | None:
        with self._reachable("GETDEL"):
            return _as_bytes(self._redis.getdel(self._prefix + key))

    def add(self, key: str, value: bytes, ttl: timedelta) -> bool:
        with self._reachable("SET NX"):
            return bool(self._redis.set(self._prefix + key, value, px=_millis(ttl), nx=True))

    def delete(self, key: str) -> None:
        with self._reachable("DEL"):
            self._redis.delete(self._prefix + key)

    def commit(self, batch: Batch) -> bool:
        return self.commit_taking(batch).landed

    def commit_taking(self, batch: Batch) -> Committed:
        # Scores are milliseconds on this process's clock; app hosts keep NTP time, and a
        # skew only delays trimming (the keys themselves expire by Redis TTL).
        args: list[Any] = [int(self._wall() * 1000), self._prefix, len(batch.takes)]
        for key, expect in batch.takes:
            args += [key, len(expect)]
            for name, want in expect.items():
                args += [name, want]
        args.append(len(batch.guards))
        for key, value, ttl in batch.guards:
            args += [key, value, _millis(ttl)]
        args.append(len(batch.deletes))
        args += batch.deletes
        args.append(len(batch.index_removes))
        for index, key in batch.index_removes:
            args += [index, key]
        args.append(len(batch.sets))
        for key, value, ttl in batch.sets:
            args += [key, value, _millis(ttl)]
        args.append(len(batch.index_adds))
        for index, key, ttl in batch.index_adds:
            args += [index, key, _millis(ttl)]
        with self._reachable("commit script"):
            result = self._commit(keys=[], args=args)
        if int(result[0]) != 1:
            why = result[1]
            return Committed(False, refused=why.decode() if isinstance(why, bytes) else str(why))
        return Committed(True, taken=tuple(v for v in map(_as_bytes, result[1:]) if v is not None))

    def indexed(self, index: str) -> list[tuple[str, bytes]]:
        now = int(self._wall() * 1000)
        with self._reachable("ZRANGEBYSCORE"):
            members = self._redis.zrangebyscore(self._prefix + index, now, "+inf")
        keys = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        if not keys:
            return []
        with self._reachable("MGET"):
            values = self._redis.mget([self._prefix + k for k in keys])
        pairs = zip(keys, (_as_bytes(v) for v in values), strict=True)
        return [(k, v) for k, v in pairs if v is not None]

    def end_indexed(self, index: str) -> int:
        with self._reachable("end script"):
            return int(self._end_indexed(keys=[self._prefix + index], args=[self._prefix]))


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
