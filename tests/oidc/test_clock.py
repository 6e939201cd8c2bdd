"""The OIDC client's clock: the offset shifts token checks, never the age of cached copies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from .conftest import login, make_client
from .fake_op import FakeOP


def test_disk_copy_survives_a_changed_clock_offset(op: FakeOP, tmp_path: Path) -> None:
    """A restart with the offset set 6 minutes back still reads the copy written before.

    The copy is stamped with this machine's time: were it stamped with the offset time, it
    would look written in the future and be refused, and a ship starting offline would fail.
    """
    cache_dir = str(tmp_path / "cache")
    login(make_client(op, cache_dir=cache_dir, clock_offset=timedelta(0)))
    op.fail.update({"openid-configuration", "jwks"})
    restarted = make_client(op, cache_dir=cache_dir, clock_offset=timedelta(minutes=-6))
    assert restarted.metadata().issuer == op.issuer
    assert restarted.signing_keys().keys
