"""Fixtures: one sandbox and the sample app on real loopback servers, per test worker."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask

from example_app import create_app
from rpkit.testing import SandboxHandle

from .helpers import AppServer, app_config, sandbox_for

HTTPS_BASE = "https://app.example.com"


@dataclass
class Stack:
    sandbox: SandboxHandle
    server: AppServer
    app: Flask
    base_url: str
    # Same sandbox, app at an https base URL, driven with Flask's test client.
    https_app: Flask


@pytest.fixture(scope="session", autouse=True)
def _quiet_werkzeug() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="package", autouse=True)
def _no_rpkit_env() -> Iterator[None]:
    """Run without the developer's RPKIT_* variables: tests set their own configuration."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("RPKIT_")]:
            patch.delenv(key)
        yield


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, _no_rpkit_env: None) -> Iterator[Stack]:
    server = AppServer()
    with sandbox_for(tmp_path_factory.mktemp("sandbox"), [server.base_url, HTTPS_BASE]) as sb:
        app = create_app(app_config(server.base_url, sb))
        server.start(app)
        https_app = create_app(app_config(HTTPS_BASE, sb))
        try:
            yield Stack(sb, server, app, server.base_url, https_app)
        finally:
            server.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def session_cookies(response: Any) -> list[str]:
    """The Set-Cookie headers that carry an app session."""
    raw = getattr(response, "raw", None)
    headers = raw.headers if raw is not None and hasattr(raw, "headers") else response.headers
    return [h for h in headers.getlist("Set-Cookie") if "rpkit_session=" in h]
