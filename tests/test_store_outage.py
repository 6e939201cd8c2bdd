"""RedisStore on a real redis-server: a stopped Redis is a typed error, and it recovers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from rpkit.errors import StoreUnavailableError
from rpkit.store import Batch, RedisStore

from .flask.processes import redis_process

TTL = timedelta(minutes=1)


def test_stopped_redis_raises_store_unavailable_and_recovers() -> None:
    """Every command against a stopped Redis raises StoreUnavailableError; a restart heals."""
    with redis_process() as server:
        store = RedisStore(server.url, prefix="rpkit-test:")
        store.set("a", b"1", TTL)
        assert store.get("a") == b"1"

        server.stop()
        commands: dict[str, Callable[[], object]] = {
            "get": lambda: store.get("a"),
            "set": lambda: store.set("a", b"2", TTL),
            "pop": lambda: store.pop("a"),
            "add": lambda: store.add("b", b"1", TTL),
            "delete": lambda: store.delete("a"),
            "commit": lambda: store.commit(Batch().set("c", b"1", TTL)),
            "indexed": lambda: store.indexed("idx"),
            "end_indexed": lambda: store.end_indexed("idx"),
        }
        for name, command in commands.items():
            with pytest.raises(StoreUnavailableError) as info:
                command()
            assert info.value.code == "store_unavailable", name
            # The server's address stays out of the message (it goes to logs and pages).
            assert str(server.port) not in str(info.value), name
            assert "ConnectionError" in str(info.value), name

        server.start()  # same port, empty data: the client reconnects by itself
        assert store.get("a") is None
        assert store.add("b", b"1", TTL) is True
        assert store.add("b", b"1", TTL) is False
        assert store.commit(Batch().set("c", b"1", TTL).index_add("idx", "c", TTL))
        assert store.indexed("idx") == [("c", b"1")]
