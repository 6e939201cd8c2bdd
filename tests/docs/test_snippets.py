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
from tests.flask.helpers import AppServer, oidc_login, saml_login, sandbox_clients, sandbox_sps

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
        "code blocks with no test mark (put <!-- run -->, <!-- run: flask-app PATH --> or "
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
