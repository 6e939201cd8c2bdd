"""Sandbox test fixtures: one sandbox per test module, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rpkit.testing import SandboxHandle, sandbox_server

from .saml_helpers import SERVICE_PROVIDERS


@pytest.fixture(scope="module")
def _module_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with sandbox_server(
        tmp_path_factory.mktemp("sandbox"),
        allow_any_sp=False,
        service_providers=SERVICE_PROVIDERS,
    ) as handle:
        yield handle


@pytest.fixture
def sandbox(_module_sandbox: SandboxHandle) -> SandboxHandle:
    """A running sandbox restored to its seed."""
    _module_sandbox.reset()
    return _module_sandbox
