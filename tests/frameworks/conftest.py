"""The sample apps on every framework, each on a real loopback server, one sandbox for all.

``stack`` is parametrised: a test that uses it runs against the Flask app
(``example_app``), the FastAPI app (``example_app.fastapi``) and the Django app
(``example_app.django``) alike: one contract.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from rpkit.testing import SandboxHandle
from tests.flask.helpers import AppServer, app_config, sandbox_for

from .servers import AsgiServer

FRAMEWORKS = ("flask", "fastapi", "django")


@dataclass
class Stack:
    framework: str
    sandbox: SandboxHandle
    base_url: str
    app: Any = None  # the app object, for the few tests that reach into its state


def _flask_app(config: dict[str, Any]) -> Any:
    from example_app import create_app

    return create_app(config)


def _fastapi_app(config: dict[str, Any]) -> Any:
    from example_app.fastapi import create_app

    return create_app(config)


def _django_app(config: dict[str, Any]) -> Any:
    from example_app.django import create_app

    return create_app(config)


BUILDERS: dict[str, tuple[Callable[[], Any], Callable[[dict[str, Any]], Any]]] = {
    "flask": (AppServer, _flask_app),
    "fastapi": (AsgiServer, _fastapi_app),
    # Django's settings are per process: one Django app in the test process.
    "django": (AppServer, _django_app),
}


@pytest.fixture(scope="session", autouse=True)
def _quiet_servers() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="package", autouse=True)
def _no_rpkit_env() -> Iterator[None]:
    """Run without the developer's RPKIT_* variables: tests set their own configuration."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("RPKIT_")]:
            patch.delenv(key)
        yield


@pytest.fixture(scope="package")
def stacks(
    tmp_path_factory: pytest.TempPathFactory, _no_rpkit_env: None
) -> Iterator[dict[str, Stack]]:
    servers = {name: BUILDERS[name][0]() for name in FRAMEWORKS}
    bases = [s.base_url for s in servers.values()]
    with sandbox_for(tmp_path_factory.mktemp("sandbox"), bases) as sandbox:
        apps = {}
        for name, server in servers.items():
            apps[name] = BUILDERS[name][1](app_config(server.base_url, sandbox))
            server.start(apps[name])
        try:
            yield {
                name: Stack(name, sandbox, server.base_url, apps[name])
                for name, server in servers.items()
            }
        finally:
            for server in servers.values():
                server.stop()


@pytest.fixture(params=FRAMEWORKS)
def stack(request: pytest.FixtureRequest, stacks: dict[str, Stack]) -> Stack:
    return stacks[str(request.param)]


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def session_cookies(response: Any) -> list[str]:
    """The Set-Cookie headers that carry an app session."""
    return [h for h in response.raw.headers.getlist("Set-Cookie") if "rpkit_session=" in h]
