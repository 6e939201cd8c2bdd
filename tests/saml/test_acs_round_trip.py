"""The ACS in one store round trip: validate, then take the pending request with the writes.

``ServiceProvider.complete_login`` on a ``TakingStore`` (memory, Redis) validates the
response first and then, in one atomic commit, takes the pending request (bound to the
browser and to the request the Response answers), writes the replay entry and the
caller's session. Each refusal keeps its reason; a store of your own without
``commit_taking`` gets the two-step path with the same outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from rpkit.errors import SamlResponseError
from rpkit.identity import CrewIdentity
from rpkit.saml import ServiceProvider
from rpkit.store import Batch, MemoryStore, RedisStore, StateStore, TakingStore

from ..flask.processes import redis_server
from .idp import ResponseSpec, TestIdp

MINUTE = timedelta(minutes=1)


class OwnStore:
    """A ``StateStore`` of a user's own: everything but ``commit_taking``."""

    def __init__(self) -> None:
        self._inner = MemoryStore()

    def __getattr__(self, name: str) -> Any:
        if name == "commit_taking":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def get(self, key: str) -> bytes | None:
        return self._inner.get(key)

    def set(self, key: str, value: bytes, ttl: timedelta) -> None:
        self._inner.set(key, value, ttl)

    def pop(self, key: str) -> bytes | None:
        return self._inner.pop(key)

    def add(self, key: str, value: bytes, ttl: timedelta) -> bool:
        return self._inner.add(key, value, ttl)

    def delete(self, key: str) -> None:
        self._inner.delete(key)

    def commit(self, batch: Batch) -> bool:
        assert not batch.takes, "a store without commit_taking is never given a take"
        return self._inner.commit(batch)

    def indexed(self, index: str) -> list[tuple[str, bytes]]:
        return self._inner.indexed(index)

    def end_indexed(self, index: str) -> int:
        return self._inner.end_indexed(index)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["memory", "redis", "own"])
def store(request: pytest.FixtureRequest) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "own":
        yield OwnStore()
    else:
        store = RedisStore(request.getfixturevalue("redis_url"), prefix=f"acs{id(request)}:")
        yield store
        store._redis.flushdb()


@pytest.fixture
def sp(make_sp: Callable[..., ServiceProvider], store: StateStore) -> ServiceProvider:
    sp = make_sp()
    sp.store = store
    return sp


def _answer(idp: TestIdp, request_id: str, **spec: Any) -> str:
    return idp.signed_response(
        ResponseSpec(in_response_to=request_id, scd_in_response_to=request_id, **spec)
    )


def _session(key: str) -> Callable[[CrewIdentity], Batch]:
    return lambda identity: Batch().set(key, identity.subject.encode(), MINUTE)


def _refused(sp: ServiceProvider, response: str, relay_state: str, browser: str | None) -> str:
    with pytest.raises(SamlResponseError) as info:
        sp.complete_login(response, relay_state, browser_token=browser, writes=_session("s"))
    assert sp.store.get("s") is None, "a refused login wrote its session"
    return info.value.reason


def test_the_store_kinds_are_what_the_test_means(sp: ServiceProvider, store: Any) -> None:
    assert isinstance(store, TakingStore) is (not isinstance(store, OwnStore))


def test_login_writes_the_session_and_returns_the_stored_return_to(
    idp: TestIdp, sp: ServiceProvider
) -> None:
    login = sp.start_login(return_to="/bridge")
    identity, return_to = sp.complete_login(
        _answer(idp, login.pending.request_id),
        login.pending.relay_state,
        browser_token=login.cookie.value,
        writes=_session("s"),
    )
    assert (identity.subject, return_to) == ("crew-4711", "/bridge")
    assert sp.store.get("s") == b"crew-4711"


def test_another_browser_is_refused_and_burns_the_login(idp: TestIdp, sp: ServiceProvider) -> None:
    login = sp.start_login()
    answer, relay = _answer(idp, login.pending.request_id), login.pending.relay_state
    assert _refused(sp, answer, relay, "x" * 43) == "browser_binding"
    assert _refused(sp, answer, relay, login.cookie.value) == "relay_state"


def test_no_browser_cookie_is_refused(idp: TestIdp, sp: ServiceProvider) -> None:
    login = sp.start_login()
    answer = _answer(idp, login.pending.request_id)
    assert _refused(sp, answer, login.pending.relay_state, None) == "browser_binding"


def test_an_answer_to_another_request_is_refused_and_burns_the_login(
    idp: TestIdp, sp: ServiceProvider
) -> None:
    """Two logins in one browser: the answer to B posted with A's RelayState."""
    a = sp.start_login()
    b = sp.start_login(browser_token=a.cookie.value)
    to_b = _answer(idp, b.pending.request_id)
    assert _refused(sp, to_b, a.pending.relay_state, a.cookie.value) == "in_response_to"
    answer_a = _answer(idp, a.pending.request_id)
    assert _refused(sp, answer_a, a.pending.relay_state, a.cookie.value) == "relay_state"
    identity, _ = sp.complete_login(to_b, b.pending.relay_state, browser_token=b.cookie.value)
    assert identity.subject == "crew-4711"


def test_an_answer_without_in_response_to_is_refused(idp: TestIdp, sp: ServiceProvider) -> None:
    login = sp.start_login()
    answer = idp.signed_response(ResponseSpec(in_response_to=None, scd_in_response_to=None))
    assert _refused(sp, answer, login.pending.relay_state, login.cookie.value) == "in_response_to"


def test_unknown_and_foreign_relay_states_are_refused(idp: TestIdp, sp: ServiceProvider) -> None:
    login = sp.start_login()
    answer = _answer(idp, login.pending.request_id)
    assert _refused(sp, answer, "u" * 43, login.cookie.value) == "relay_state"
    assert _refused(sp, answer, "https://evil.test/", login.cookie.value) == "relay_state"
    with pytest.raises(SamlResponseError) as info:
        sp.complete_login(answer, None, browser_token=login.cookie.value)
    assert info.value.reason == "relay_state"


def test_a_forged_answer_is_refused_and_leaves_the_login_pending(
    idp: TestIdp, attacker: TestIdp, sp: ServiceProvider
) -> None:
    """Validation runs before the take: a forged POST cannot cancel the crew member's login
    (on the store without ``commit_taking`` the two-step path burns it, as before)."""
    login = sp.start_login()
    forged = _answer(attacker, login.pending.request_id)
    assert _refused(sp, forged, login.pending.relay_state, login.cookie.value) == "signature"
    genuine = _answer(idp, login.pending.request_id)
    if isinstance(sp.store, OwnStore):
        assert _refused(sp, genuine, login.pending.relay_state, login.cookie.value) == (
            "relay_state"
        )
        return
    identity, _ = sp.complete_login(
        genuine, login.pending.relay_state, browser_token=login.cookie.value
    )
    assert identity.subject == "crew-4711"


def test_a_replayed_assertion_writes_nothing(idp: TestIdp, sp: ServiceProvider) -> None:
    """The same assertion again (a second pending request it names is impossible, so the
    same RelayState): refused, and the second attempt writes no session."""
    login = sp.start_login()
    answer = _answer(idp, login.pending.request_id)
    sp.complete_login(answer, login.pending.relay_state, browser_token=login.cookie.value)
    assert _refused(sp, answer, login.pending.relay_state, login.cookie.value) == "relay_state"


def test_an_expired_pending_request_is_refused(idp: TestIdp, make_sp: Callable[..., Any]) -> None:
    ticks = [1000.0]
    sp = make_sp()
    sp.store = MemoryStore(lambda: ticks[0])
    login = sp.start_login()
    ticks[0] += sp.config.pending_ttl.total_seconds() + 1
    answer = _answer(idp, login.pending.request_id)
    assert _refused(sp, answer, login.pending.relay_state, login.cookie.value) == "relay_state"


def test_one_redis_round_trip_per_login(
    idp: TestIdp, make_sp: Callable[..., Any], redis_url: str
) -> None:
    """The ACS sends Redis one command, the commit script (counted at the client: the
    server's command statistics also count the commands the script runs)."""
    sp = make_sp()
    store = RedisStore(redis_url, prefix="trips:")
    sp.store = store
    sent: list[str] = []
    client = store._redis
    execute = client.execute_command

    def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return execute(*args, **options)

    client.execute_command = counted

    def login() -> None:
        started = sp.start_login()
        sent.clear()
        sp.complete_login(
            _answer(idp, started.pending.request_id),
            started.pending.relay_state,
            browser_token=started.cookie.value,
            writes=_session("trips-session"),
        )

    login()  # the first also loads the script (SCRIPT LOAD after NOSCRIPT)
    login()
    assert sent == ["EVALSHA"]
    assert store.get("trips-session") == b"crew-4711"
