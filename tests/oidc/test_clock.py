"""The OIDC client's clock: the offset shifts token checks, never the age of cached copies."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rpkit._pending import digest
from rpkit.oauth import TokenSet
from rpkit.store import MemoryStore
from rpkit.testing import SandboxHandle

from .conftest import BROWSER, Clock, follow_authorize, make_client, sandbox_login
from .fake_op import FakeOP

TOMAS = "tomas.berg@nordic-aurora.example"  # a seeded crew member


def test_disk_copy_survives_a_changed_clock_offset(sandbox: SandboxHandle, tmp_path: Path) -> None:
    """A restart with the offset set 6 minutes back still reads the copy written before.

    The copy is stamped with this machine's time: were it stamped with the offset time, it
    would look written in the future and be refused, and a ship starting offline would fail.
    """
    cache_dir = str(tmp_path / "cache")
    sandbox_login(make_client(sandbox, cache_dir=cache_dir, clock_offset=timedelta(0)), TOMAS)
    sandbox.set_fault("discovery", "error", status=500)
    sandbox.set_fault("jwks", "error", status=500)
    restarted = make_client(sandbox, cache_dir=cache_dir, clock_offset=timedelta(minutes=-6))
    assert restarted.metadata().issuer == sandbox.issuer
    assert restarted.signing_keys().keys


def test_login_and_token_times_are_aware_utc_on_this_machines_clock(op: FakeOP) -> None:
    """LoginState.created_at and TokenSet.expires_at are aware UTC datetimes of this
    machine's time: the provider's clock offset does not move them."""
    clock = Clock()
    client = make_client(op, clock=clock, clock_offset=timedelta(minutes=5))
    here = datetime.fromtimestamp(clock.now, UTC)
    started = client.start_login(browser_token=BROWSER)
    assert started.login.created_at == here
    assert started.login.created_at.utcoffset() == timedelta(0)
    op.client_credentials_expires_in = 600
    tokens = client.client_credentials(("crew.read",))
    assert tokens.expires_at == here + timedelta(seconds=600)


def test_a_login_stored_by_rpkit_0_1_still_completes(op: FakeOP) -> None:
    """A pending login whose created_at the previous release stored as epoch seconds (in
    flight across a deploy) loads with an aware UTC datetime and completes."""
    store = MemoryStore()
    client = make_client(op, store=store)
    started = client.start_login(browser_token=BROWSER)
    key = "oidc:state:" + digest(started.login.state)
    stored = store.get(key)
    assert stored is not None
    old = json.loads(stored)
    assert isinstance(old["created_at"], str)  # written as ISO 8601 now
    old["created_at"] = 1_790_000_000.5
    store.set(key, json.dumps(old).encode(), timedelta(minutes=5))
    params = follow_authorize(started.url)
    taken = client.take_login_state(params["state"], browser_token=BROWSER)
    assert taken.created_at == datetime(2026, 9, 21, 14, 13, 20, 500000, tzinfo=UTC)
    assert taken == replace(started.login, created_at=taken.created_at)
    result = client.finish_login(params, expected=taken)
    assert result.identity.subject


@pytest.mark.parametrize(
    ("expires_in", "expires_at"),
    [
        (1e300, datetime.max.replace(tzinfo=UTC)),
        (10**20, datetime.max.replace(tzinfo=UTC)),
        (-1e300, datetime.min.replace(tzinfo=UTC)),
    ],
    ids=["float_past_the_calendar", "int_past_the_calendar", "before_the_calendar"],
)
def test_token_expiry_beyond_the_calendar_is_its_end(
    expires_in: float, expires_at: datetime
) -> None:
    """An expires_in past what a datetime holds is the calendar's last (or first) instant,
    not an error: as an epoch sum it never expired (or had expired)."""
    now = datetime(2026, 9, 21, tzinfo=UTC)
    body = {"access_token": "at", "token_type": "Bearer", "expires_in": expires_in}
    tokens = TokenSet.from_response(body, now=now)
    assert tokens.expires_at == expires_at
    assert tokens.expires_within(60, now=now) is (expires_in < 0)


def test_token_expires_within_counts_from_now() -> None:
    """expires_within(seconds) is true from ``seconds`` before expires_at on."""
    now = datetime(2026, 9, 21, tzinfo=UTC)
    body = {"access_token": "at", "token_type": "Bearer", "expires_in": "600"}
    tokens = TokenSet.from_response(body, now=now)
    assert tokens.expires_at == now + timedelta(minutes=10)
    assert not tokens.expires_within(599, now=now)
    assert tokens.expires_within(600, now=now)
    assert tokens.expires_within(0, now=now + timedelta(minutes=11))
