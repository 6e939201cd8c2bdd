"""Public SAML entry points refuse bad input with typed errors, never a bare ValueError."""

from __future__ import annotations

from datetime import datetime

import pytest

from rpkit.errors import ValidationError
from rpkit.saml import ServiceProvider


def test_the_clock_must_be_aware(sp: ServiceProvider) -> None:
    """A naive datetime (no zone) as ``now`` is refused, naming the parameter."""
    with pytest.raises(ValidationError) as exc:
        sp.start_login(now=datetime(2026, 1, 1))
    assert exc.value.field == "now"
