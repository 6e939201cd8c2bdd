"""The one clock: aware UTC wall time with the offset, epoch for JWTs, monotonic cool-downs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from rpkit._clock import Clock, clock_from, clock_from_datetimes
from rpkit.config import OidcConfig
from rpkit.oidc import OidcClient
from rpkit.scim import ScimClient, ScimConfig
from rpkit.store import MemoryStore

EPOCH = 1_790_000_000.0  # 2026-09-21T14:13:20Z
AT = datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def test_now_is_aware_utc_with_the_offset() -> None:
    clock = Clock(wall=lambda: EPOCH, offset=timedelta(minutes=5))
    assert clock.now() == AT + timedelta(minutes=5)
    assert clock.now().tzinfo is UTC
    assert clock.timestamp() == EPOCH + 300


def test_older_clock_arguments_map_onto_a_clock() -> None:
    """Epoch callables, datetime callables, a Clock and None all become a Clock."""
    assert clock_from(lambda: EPOCH).now() == AT
    assert clock_from(lambda: EPOCH, offset=timedelta(seconds=-60)).timestamp() == EPOCH - 60
    assert clock_from_datetimes(lambda: AT).timestamp() == EPOCH
    own = Clock(wall=lambda: EPOCH)
    assert clock_from(own) is own and clock_from_datetimes(own) is own
    assert abs(clock_from(None).now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_datetime_clock_must_be_aware() -> None:
    """A naive datetime clock is refused when read, not taken as local time."""
    naive = clock_from_datetimes(lambda: datetime(2026, 9, 21, 14, 13, 20))
    with pytest.raises(ValueError, match="timezone-aware"):
        naive.now()


def test_oidc_client_maps_its_clock_and_offset() -> None:
    """OidcClient(clock=epoch callable).now() is the provider's time: aware, offset applied."""
    config = OidcConfig.ship("192.0.2.1", client_id="a", clock_offset=timedelta(minutes=4))
    client = OidcClient(config, clock=lambda: EPOCH)
    assert client.now() == AT + timedelta(minutes=4)
    assert client.clock.timestamp() == EPOCH + 240
    assert client.wall_clock() == EPOCH  # this machine's time, for lifetimes it measures


def test_scim_client_today_follows_its_clock() -> None:
    config = ScimConfig(
        base_url="https://scim.test/scim/v2",
        token_url="https://scim.test/token",
        client_id="c",
        client_secret="s",
    )
    assert ScimClient(config, clock=lambda: EPOCH).today() == date(2026, 9, 21)
    later = ScimClient(config, clock=Clock(wall=lambda: EPOCH + 86_400))
    assert later.today() == date(2026, 9, 22)


def test_memory_store_expiry_runs_on_the_monotonic_clock() -> None:
    """Stepping the wall clock does not expire an entry; monotonic time does."""
    ticks = Ticks()
    wall = [EPOCH]
    store = MemoryStore(Clock(wall=lambda: wall[0], monotonic=ticks))
    store.set("k", b"v", timedelta(seconds=10))
    wall[0] += 3600
    assert store.get("k") == b"v"
    ticks.value += 11
    assert store.get("k") is None
