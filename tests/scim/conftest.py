"""SCIM test fixtures: one sandbox per module, reset before every test; clients on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from rpkit.config import HttpConfig
from rpkit.scim import ScimClient, ScimConfig
from rpkit.testing import (
    SCIM_CLIENT_ID,
    SCIM_CLIENT_SECRET,
    SCIM_READONLY_CLIENT_ID,
    SCIM_READONLY_CLIENT_SECRET,
    SandboxHandle,
    sandbox_server,
)

from .helpers import Sleeps


@pytest.fixture(scope="module")
def _module_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with sandbox_server(tmp_path_factory.mktemp("scim-sandbox")) as handle:
        yield handle


@pytest.fixture
def sandbox(_module_sandbox: SandboxHandle) -> SandboxHandle:
    """A running sandbox restored to its seed."""
    _module_sandbox.reset()
    return _module_sandbox


@pytest.fixture
def sleeps() -> Sleeps:
    """Records the waits a client asks for instead of sleeping."""
    return Sleeps()


MakeClient = Callable[..., ScimClient]


@pytest.fixture
def make_client(sandbox: SandboxHandle, sleeps: Sleeps) -> MakeClient:
    """Build a ScimClient on the sandbox; keyword arguments override ScimConfig fields."""

    def build(*, readonly: bool = False, timeout: float = 10.0, **overrides: Any) -> ScimClient:
        clock = overrides.pop("clock", None)
        today = overrides.pop("today", None)
        settings: dict[str, Any] = {
            "base_url": sandbox.urls["scim_base"],
            "token_url": sandbox.urls["token"],
            "client_id": SCIM_READONLY_CLIENT_ID if readonly else SCIM_CLIENT_ID,
            "client_secret": SCIM_READONLY_CLIENT_SECRET if readonly else SCIM_CLIENT_SECRET,
            "scope": "crew_read" if readonly else "crew_import",
            "backoff": timedelta(seconds=0.01),
            "http": HttpConfig(
                timeout=timedelta(seconds=timeout), connect_timeout=timedelta(seconds=timeout)
            ),
        }
        settings.update(overrides)
        extra: dict[str, Any] = {}
        if clock is not None:
            extra["clock"] = clock
        if today is not None:
            extra["today"] = today
        return ScimClient(ScimConfig(**settings), sleep=sleeps, **extra)

    return build


@pytest.fixture
def client(make_client: MakeClient) -> ScimClient:
    """A crew_import client on the sandbox."""
    return make_client()


@pytest.fixture
def env(sandbox: SandboxHandle) -> dict[str, str]:
    """The RPKIT_SCIM_* environment the sandbox prints at start."""
    return {
        "RPKIT_SCIM_BASE_URL": sandbox.urls["scim_base"],
        "RPKIT_SCIM_TOKEN_URL": sandbox.urls["token"],
        "RPKIT_SCIM_CLIENT_ID": SCIM_CLIENT_ID,
        "RPKIT_SCIM_CLIENT_SECRET": SCIM_CLIENT_SECRET,
        "RPKIT_SCIM_SCOPE": "crew_import",
    }
