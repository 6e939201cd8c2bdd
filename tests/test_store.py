"""The state stores: batches, indexes, eviction in memory, and Redis without a hot spot."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from rpkit._clock import clock_from
from rpkit.errors import ConfigurationError
from rpkit.identity import CrewIdentity
from rpkit.store import Batch, MemoryStore, RedisStore, StateStore, TakingStore
from rpkit.web.sessions import SessionStore

from .flask.processes import redis_server

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _identity(subject: str, protocol: str = "saml") -> CrewIdentity:
    return CrewIdentity(protocol=protocol, issuer="https://idp.test", subject=subject)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    store = RedisStore(request.getfixturevalue("redis_url"), prefix=f"t{id(request)}:")
    yield store
    store._redis.flushdb()


# -- the contract, on both stores -------------------------------------------------------


def test_guarded_batch_writes_nothing_when_the_guard_exists(store: StateStore) -> None:
    """A batch whose guard key exists (a replay) writes none of its keys or index entries."""
    assert store.commit(Batch().guard("replay:1", b"1", MINUTE).set("s:a", b"A", MINUTE))
    refused = Batch().guard("replay:1", b"1", MINUTE).set("s:b", b"B", MINUTE)
    refused.index_add("idx:u", "s:b", MINUTE).delete("s:a")
    assert store.commit(refused) is False
    assert store.get("s:b") is None and store.get("s:a") == b"A"
    assert store.indexed("idx:u") == []


def _taking(store: StateStore) -> TakingStore:
    assert isinstance(store, TakingStore)
    return store


PENDING = b'{"browser_hash": "b1", "request_id": "_r1", "return_to": "/x"}'


def test_a_take_lands_with_the_batch_and_returns_the_value(store: StateStore) -> None:
    """A take whose fields match removes the entry and lets the batch land, in one commit."""
    store.set("p:1", PENDING, MINUTE)
    batch = Batch().take("p:1", {"browser_hash": "b1", "request_id": "_r1"})
    committed = _taking(store).commit_taking(batch.set("s:a", b"A", MINUTE))
    assert committed and committed.taken == (PENDING,) and committed.refused is None
    assert store.get("p:1") is None and store.get("s:a") == b"A"


def test_a_take_of_a_missing_key_writes_nothing(store: StateStore) -> None:
    batch = Batch().take("p:gone", {"browser_hash": "b1"}).set("s:a", b"A", MINUTE)
    committed = _taking(store).commit_taking(batch.index_add("idx:u", "s:a", MINUTE))
    assert not committed and committed.refused == "missing" and committed.taken == ()
    assert store.get("s:a") is None and store.indexed("idx:u") == []


@pytest.mark.parametrize(
    ("expect", "refused"),
    [
        ({"browser_hash": "other", "request_id": "_r1"}, "browser_hash"),
        ({"browser_hash": "b1", "request_id": "_r2"}, "request_id"),
        ({"browser_hash": "b1", "absent": "x"}, "absent"),
    ],
)
def test_a_take_whose_field_differs_burns_the_entry_and_writes_nothing(
    store: StateStore, expect: dict[str, str], refused: str
) -> None:
    """The entry is removed (single use, also when refused); the first differing field is
    named; nothing else is written."""
    store.set("p:1", PENDING, MINUTE)
    batch = Batch().take("p:1", expect).guard("replay:1", b"1", MINUTE).set("s:a", b"A", MINUTE)
    committed = _taking(store).commit_taking(batch)
    assert not committed and committed.refused == refused
    assert store.get("p:1") is None and store.get("s:a") is None
    assert store.add("replay:1", b"1", MINUTE), "the refused batch wrote its guard"


def test_a_take_of_a_value_that_is_not_a_json_object_is_refused(store: StateStore) -> None:
    store.set("p:1", b"not json", MINUTE)
    committed = _taking(store).commit_taking(Batch().take("p:1", {"request_id": "_r1"}))
    assert not committed and committed.refused == "request_id"
    store.set("p:2", b"[1, 2]", MINUTE)
    committed = _taking(store).commit_taking(Batch().take("p:2", {"request_id": "_r1"}))
    assert not committed and committed.refused == "request_id"


def test_a_guard_after_a_take_refuses_and_the_take_still_burns(store: StateStore) -> None:
    """A replay: the pending entry is used up, the session is not written."""
    store.set("p:1", PENDING, MINUTE)
    assert store.add("replay:1", b"1", MINUTE)
    batch = Batch().take("p:1", {"request_id": "_r1"}).guard("replay:1", b"1", MINUTE)
    committed = _taking(store).commit_taking(batch.set("s:a", b"A", MINUTE))
    assert not committed and committed.refused == "guard"
    assert store.get("p:1") is None and store.get("s:a") is None


def test_index_files_and_unfiles_keys(store: StateStore) -> None:
    """Keys filed under an index come back with their values until removed or deleted."""
    batch = Batch()
    for name in ("a", "b", "c"):
        batch.set(f"s:{name}", name.encode(), MINUTE).index_add("idx:u", f"s:{name}", MINUTE)
    batch.set("s:x", b"x", MINUTE).index_add("idx:other", "s:x", MINUTE)
    assert store.commit(batch)
    assert sorted(store.indexed("idx:u")) == [("s:a", b"a"), ("s:b", b"b"), ("s:c", b"c")]
    assert store.commit(Batch().delete("s:a").index_remove("idx:u", "s:a"))
    store.delete("s:b")  # deleted without unfiling: the index no longer yields it
    assert store.indexed("idx:u") == [("s:c", b"c")]
    assert store.indexed("idx:other") == [("s:x", b"x")]


def test_end_indexed_ends_exactly_the_filed_keys(store: StateStore) -> None:
    """Ending an index deletes its keys, counts the live ones, and touches no other index."""
    batch = Batch()
    for name in ("a", "b"):
        batch.set(f"s:{name}", b"1", MINUTE).index_add("idx:u", f"s:{name}", MINUTE)
    batch.set("s:x", b"1", MINUTE).index_add("idx:other", "s:x", MINUTE)
    store.commit(batch)
    store.delete("s:b")
    assert store.end_indexed("idx:u") == 1
    assert store.get("s:a") is None and store.indexed("idx:u") == []
    assert store.get("s:x") == b"1" and store.indexed("idx:other") == [("s:x", b"1")]
    assert store.end_indexed("idx:u") == 0


def test_sessions_of_concurrent_users_never_mix(store: StateStore) -> None:
    """8 threads log two users in and out at once; each user's index holds only their own."""
    sessions = SessionStore(store, lifetime=timedelta(hours=1))
    kept: dict[str, list[str]] = {"tomas": [], "ingrid": []}
    lock = threading.Lock()

    def work(user: str) -> None:
        for i in range(20):
            _, record = sessions.create(_identity(user))
            if i % 2:
                sessions.end(record)
            else:
                with lock:
                    kept[user].append(record.key)

    threads = [threading.Thread(target=work, args=(u,)) for u in ["tomas", "ingrid"] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for user in kept:
        found = sessions.find_by_index("sub", "saml", "https://idp.test", user)
        assert sorted(r.key for r in found) == sorted(kept[user])
        assert {r.identity.subject for r in found} == {user}
    assert sessions.end_by_index("sub", "saml", "https://idp.test", "tomas") == 40
    assert len(sessions.find_by_index("sub", "saml", "https://idp.test", "ingrid")) == 40


def test_session_created_at_is_an_aware_datetime_and_0_1_records_still_load(
    store: StateStore,
) -> None:
    """created_at comes from the session store's clock as aware UTC and is stored as ISO 8601;
    a record the previous release wrote (epoch seconds) loads after the deploy, whole."""
    at = datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC)
    sessions = SessionStore(store, lifetime=HOUR, clock=clock_from(at.timestamp))
    session_id, record = sessions.create(_identity("kari"), protocol_data={"sid": "s1"})
    assert record.created_at == at
    assert sessions.load(session_id) == record
    key = "flask:session:" + record.key
    written = json.loads(store.get(key) or b"{}")
    assert written["created_at"] == "2026-09-21T14:13:20+00:00"
    written["created_at"] = at.timestamp() - 60.5  # what rpkit 0.1 wrote
    store.set(key, json.dumps(written).encode(), HOUR)
    assert sessions.load(session_id) == replace(record, created_at=at - timedelta(seconds=60.5))


@pytest.mark.parametrize(
    "created_at",
    [1e300, float("inf"), True, None, "2026-09-21T14:13:20", "yesterday"],
    ids=["past_time_t", "infinite", "bool", "null", "naive_iso", "not_a_time"],
)
def test_a_session_with_a_malformed_created_at_is_dropped(
    store: StateStore, created_at: object
) -> None:
    """A stored created_at that is no instant is a malformed record: no session, and the
    record is deleted (never a 500)."""
    sessions = SessionStore(store, lifetime=HOUR)
    session_id, record = sessions.create(_identity("kari"))
    key = "flask:session:" + record.key
    written = json.loads(store.get(key) or b"{}")
    written["created_at"] = created_at
    store.set(key, json.dumps(written).encode(), HOUR)
    assert sessions.load(session_id) is None
    assert store.get(key) is None


# -- Redis: one round trip, and the index is never read at login ------------------------


def test_redis_login_is_one_script_call_and_never_reads_the_index(redis_url: str) -> None:
    """100 logins of one user: one EVALSHA each, no read of the index or of old sessions."""
    store = RedisStore(redis_url, prefix="hot:")
    sessions = SessionStore(store, lifetime=timedelta(hours=1))
    sessions.create(_identity("bridge"))  # loads the script
    store._redis.config_resetstat()
    for _ in range(100):
        sessions.create(_identity("bridge"))
    stats = store._redis.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 100
    reads = {"cmdstat_" + c for c in ("get", "mget", "zrange", "zrangebyscore", "smembers")}
    assert not reads & set(stats), stats
    index = next(iter(store._redis.scan_iter("hot:flask:sessions-of:*")))
    assert store._redis.type(index) == b"zset" and store._redis.zcard(index) == 101
    assert 0 < store._redis.pttl(index) <= 3_600_000
    store._redis.flushdb()


# -- the memory store is bounded --------------------------------------------------------


def test_memory_store_evicts_expired_entries_without_being_read() -> None:
    """Expired sessions and pending logins leave as new writes arrive, unread."""
    clock = Clock()
    store = MemoryStore(clock)
    sessions = SessionStore(store, lifetime=timedelta(hours=8))
    for i in range(50):
        store.set(f"pending:{i}", b"p", timedelta(minutes=15))
        sessions.create(_identity(f"user{i}"))
    assert len(store) == 100
    clock.now += 16 * 60
    store.set("pending:new", b"p", timedelta(minutes=15))
    assert len(store) == 51  # the 50 pending logins are gone, the sessions stay
    clock.now += 8 * 3600
    store.set("pending:newer", b"p", timedelta(minutes=15))
    assert len(store) == 1
    assert store._indexes == {} and store._filed == {}


def test_memory_store_cap_drops_the_least_recently_used() -> None:
    """Beyond the cap the least recently used entry goes, and leaves its index too."""
    store = MemoryStore(max_entries=3)
    for name in ("a", "b", "c"):
        store.commit(Batch().set(name, b"1", MINUTE).index_add("idx", name, MINUTE))
    assert store.get("a") == b"1"  # a is now the most recently used
    store.set("d", b"1", MINUTE)
    assert store.get("b") is None and store.evicted == 1
    assert sorted(k for k, _ in store.indexed("idx")) == ["a", "c"]
    assert len(store) == 3


def test_memory_store_cap_never_drops_a_replay_entry() -> None:
    """A flood of logins past the cap evicts sessions, never a replay-cache entry."""
    store = MemoryStore(max_entries=10)
    assert store.add("replay:a", b"1", MINUTE)
    assert store.commit(Batch().guard("replay:b", b"1", MINUTE).set("s:b", b"1", MINUTE))
    for i in range(100):
        store.set(f"pending:{i}", b"p", MINUTE)
    assert store.add("replay:a", b"1", MINUTE) is False
    assert store.commit(Batch().guard("replay:b", b"1", MINUTE)) is False
    assert store.get("s:b") is None and len(store) == 12


def test_memory_after_10000_logins_is_bounded_by_the_cap() -> None:
    """10,000 logins (one shared account and distinct users) keep at most the cap."""
    store = MemoryStore(max_entries=1000)
    sessions = SessionStore(store, lifetime=timedelta(hours=8))
    for i in range(10_000):
        store.set(f"pending:{i}", b"p" * 200, timedelta(minutes=15))
        store.pop(f"pending:{i}")
        sessions.create(_identity("bridge" if i % 2 else f"user{i}"))
    assert len(store) == 1000
    assert sum(len(m) for m in store._indexes.values()) <= 1000
    assert len(store._filed) <= 1000
    assert len(store._expiries) <= 2 * 1000 + 1024
    assert len(sessions.find_by_index("sub", "saml", "https://idp.test", "bridge")) <= 1000


def test_memory_store_cap_must_be_positive() -> None:
    """A cap below one entry is a configuration error."""
    with pytest.raises(ConfigurationError):
        MemoryStore(max_entries=0)
