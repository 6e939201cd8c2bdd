"""Every code block of the README and docs/ is run against the sandbox, or says why not."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from rpkit.flask import rpkit_state
from rpkit.sandbox import env_block
from rpkit.testing import SandboxHandle, sandbox_server
from tests.flask.helpers import (
    INGRID,
    AppServer,
    oidc_login,
    saml_login,
    sandbox_clients,
    sandbox_pick,
    sandbox_sps,
)

from .snippets import ROOT, Snippet, all_snippets

SNIPPETS = all_snippets()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with sandbox_server(tmp_path_factory.mktemp("docs-sandbox")) as handle:
        yield handle


def _environment(sandbox: SandboxHandle) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPKIT_")}
    env.update(env_block(sandbox.state))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_every_block_says_how_it_is_tested() -> None:
    unmarked = [s.id for s in SNIPPETS if not s.mark]
    assert not unmarked, (
        "code blocks with no test mark (put <!-- run -->, <!-- run: flask-app PATH -->, "
        "<!-- run: asgi-app PATH -->, <!-- run: django-app PATH --> or "
        f"<!-- not run: REASON --> on the line before; see tests/docs/snippets.py): {unmarked}"
    )


@pytest.mark.parametrize("snippet", [s for s in SNIPPETS if s.mark == "run"], ids=lambda s: s.id)
def test_snippet_runs(snippet: Snippet, sandbox: SandboxHandle, tmp_path: Path) -> None:
    if snippet.language == "python":
        argv = [sys.executable, "-c", snippet.code]
    else:
        argv = ["bash", "-euo", "pipefail", "-c", snippet.code]
    result = subprocess.run(
        argv,
        cwd=tmp_path,
        env=_environment(sandbox),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{snippet.id} failed:\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize(
    "snippet", [s for s in SNIPPETS if s.mark == "run:flask-app"], ids=lambda s: s.id
)
def test_flask_app_snippet_signs_in(
    snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = AppServer()
    with sandbox_server(
        tmp_path / "sandbox",
        clients=sandbox_clients([server.base_url]),
        service_providers=sandbox_sps([server.base_url]),
    ) as sandbox:
        for key in [k for k in os.environ if k.startswith("RPKIT_")]:
            monkeypatch.delenv(key)
        for key, value in env_block(sandbox.state).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("RPKIT_BASE_URL", server.base_url)
        module = types.ModuleType(f"snippet_{snippet.line}")
        module.__file__ = str(tmp_path / "snippet.py")
        exec(compile(snippet.code, snippet.id, "exec"), module.__dict__)
        app = module.__dict__.get("app")
        assert app is not None, f"{snippet.id} defines no module-level `app`"
        with app.app_context():
            protocols = rpkit_state().protocols
        assert protocols, f"{snippet.id}: the app offers no sign-in"
        server.start(app)
        try:
            for protocol in protocols:
                http = requests.Session()
                path = snippet.reason
                login = oidc_login if protocol == "oidc" else saml_login
                answer = login(http, server.base_url, next_path=path)
                assert answer.status_code in (302, 303), f"{protocol}: {answer.text[:300]}"
                page = http.get(f"{server.base_url}{path}", allow_redirects=False)
                assert page.status_code == 200, f"{protocol}: {page.text[:300]}"
        finally:
            server.stop()


def _sandbox_command(
    tmp_path: Path, redirect_uri: str
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``rpkit sandbox --client my-app:secret --redirect-uri ...`` as a user runs it; return
    the process and the environment block it printed."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rpkit",
            "sandbox",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "sandbox"),
            "--client",
            "my-app:secret",
            "--redirect-uri",
            redirect_uri,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("RPKIT_")},
    )
    assert process.stdout is not None
    env: dict[str, str] = {}
    for line in process.stdout:  # the banner ends with the seeded password line
        if line.startswith("RPKIT_") and "=" in line:
            key, _, value = line.strip().partition("=")
            env[key] = value
        if line.startswith("Seeded crew"):
            break
    assert env, "rpkit sandbox printed no environment block"
    return process, env


@pytest.mark.parametrize(
    "snippet", [s for s in SNIPPETS if s.mark == "run:own-client-app"], ids=lambda s: s.id
)
def test_own_client_app_signs_in_with_the_sandbox_command(
    snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = AppServer()
    path = snippet.reason
    process, env = _sandbox_command(tmp_path, f"{server.base_url}{path}")
    try:
        assert env["RPKIT_OIDC_CLIENT_ID"] == "my-app"  # the env block shows the app's client
        for key in [k for k in os.environ if k.startswith("RPKIT_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code = snippet.code.replace("127.0.0.1:5081", f"127.0.0.1:{server.port}")
        module = types.ModuleType(f"snippet_{snippet.line}")
        exec(compile(code, snippet.id, "exec"), module.__dict__)
        server.start(module.__dict__["app"])
        try:
            http = requests.Session()
            start = http.get(f"{server.base_url}/", allow_redirects=False)
            assert start.status_code == 302, start.text[:300]
            page = http.get(start.headers["Location"], allow_redirects=False)
            answer = sandbox_pick(http, page, INGRID)
            assert answer.status_code in (302, 303), answer.text[:300]
            assert answer.headers["Location"].startswith(f"{server.base_url}{path}?")
            done = http.get(answer.headers["Location"], allow_redirects=False)
            assert done.status_code == 200, done.text[:300]
            assert "Master" in done.text
        finally:
            server.stop()
    finally:
        process.terminate()
        process.wait(10)
@pytest.mark.parametrize(
    "snippet", [s for s in SNIPPETS if s.mark == "run:asgi-app"], ids=lambda s: s.id
)
def test_asgi_app_snippet_signs_in(
    snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.frameworks.servers import AsgiServer

    server = AsgiServer()
    with sandbox_server(
        tmp_path / "sandbox",
        clients=sandbox_clients([server.base_url]),
        service_providers=sandbox_sps([server.base_url]),
    ) as sandbox:
        for key in [k for k in os.environ if k.startswith("RPKIT_")]:
            monkeypatch.delenv(key)
        for key, value in env_block(sandbox.state).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("RPKIT_BASE_URL", server.base_url)
        module = types.ModuleType(f"snippet_{snippet.line}")
        module.__file__ = str(tmp_path / "snippet.py")
        exec(compile(snippet.code, snippet.id, "exec"), module.__dict__)
        app = module.__dict__.get("app")
        assert app is not None, f"{snippet.id} defines no module-level `app`"
        protocols = app.state.rpkit.state.protocols  # what Rpkit.install left on the app
        assert protocols, f"{snippet.id}: the app offers no sign-in"
        server.start(app)
        try:
            for protocol in protocols:
                http = requests.Session()
                path = snippet.reason
                login = oidc_login if protocol == "oidc" else saml_login
                answer = login(http, server.base_url, next_path=path)
                assert answer.status_code in (302, 303), f"{protocol}: {answer.text[:300]}"
                page = http.get(f"{server.base_url}{path}", allow_redirects=False)
                assert page.status_code == 200, f"{protocol}: {page.text[:300]}"
        finally:
            server.stop()


@pytest.mark.parametrize(
    "snippet", [s for s in SNIPPETS if s.mark == "run:django-app"], ids=lambda s: s.id
)
def test_django_app_snippet_signs_in(snippet: Snippet, tmp_path: Path) -> None:
    """The single-file Django app, run as the page says (``python app.py runserver``) in its
    own process (Django's settings are per process)."""
    from tests.flask.helpers import free_port
    from tests.flask.processes import wait_until

    base_url = f"http://127.0.0.1:{free_port()}"
    with sandbox_server(
        tmp_path / "sandbox",
        clients=sandbox_clients([base_url]),
        service_providers=sandbox_sps([base_url]),
    ) as sandbox:
        env = {**_environment(sandbox), "RPKIT_BASE_URL": base_url}
        (tmp_path / "app.py").write_text(snippet.code)
        log = open(tmp_path / "app.log", "wb")
        address = base_url.removeprefix("http://")
        process = subprocess.Popen(
            [sys.executable, "app.py", "runserver", address, "--noreload"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def ready() -> bool:
                if process.poll() is not None:
                    raise AssertionError((tmp_path / "app.log").read_text()[-2000:])
                return requests.get(f"{base_url}/auth/login", timeout=2).status_code == 200

            wait_until(ready, what=f"{snippet.id} at {base_url}")
            chooser = requests.get(f"{base_url}/auth/login", timeout=10).text
            protocols = [p for p in ("oidc", "saml") if f'data-testid="login-{p}"' in chooser]
            assert protocols == ["oidc", "saml"], chooser[:300]
            for protocol in protocols:
                http = requests.Session()
                path = snippet.reason
                login = oidc_login if protocol == "oidc" else saml_login
                answer = login(http, base_url, next_path=path)
                assert answer.status_code in (302, 303), f"{protocol}: {answer.text[:300]}"
                page = http.get(f"{base_url}{path}", allow_redirects=False)
                assert page.status_code == 200, f"{protocol}: {page.text[:300]}"
        finally:
            process.terminate()
            process.wait(10)
            log.close()
