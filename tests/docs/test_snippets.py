"""Every code block of the README and docs/ is run against the sandbox, or says why not."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from rpkit.env import known_variables
from rpkit.flask import rpkit_state
from rpkit.sandbox import env_block
from rpkit.sandbox.config import DEFAULT_CLIENTS
from rpkit.testing import SandboxHandle, sandbox_server
from tests.flask.helpers import (
    INGRID,
    AppServer,
    free_port,
    oidc_login,
    saml_login,
    sandbox_clients,
    sandbox_pick,
    sandbox_sps,
)

from .contexts import CONTEXTS, REPORTING_CLIENT, Prepared
from .snippets import (
    ROOT,
    Snippet,
    all_snippets,
    command_lines,
    doc_files,
    environment,
    rpkit_invocations,
    rpkit_parse_error,
    run_block,
    snippets,
    unlabelled_fences,
    variables,
    words,
)

SNIPPETS = all_snippets()
KINDS = {
    *("flask-app", "asgi-app", "django-app", "own-client-app", "sandbox-command"),
    *("server", "help", "pip"),
}


def _marked(*marks: str) -> list[Snippet]:
    return [s for s in SNIPPETS if s.mark in marks]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """One sandbox per worker for the blocks that run as they stand or in a context; reset
    after each block, so none sees another's writes."""
    clients = (*DEFAULT_CLIENTS, REPORTING_CLIENT)
    with sandbox_server(tmp_path_factory.mktemp("docs-sandbox"), clients=clients) as handle:
        yield handle


def _environment(sandbox: SandboxHandle | None, prepared: Prepared | None = None) -> dict[str, str]:
    rpkit: dict[str, str] = {}
    if sandbox is not None and (prepared is None or prepared.keep_sandbox_env):
        rpkit.update(env_block(sandbox.state))
    if prepared is not None:
        rpkit.update(prepared.env)
    return environment(rpkit)


_PORT = re.compile(
    r"(?P<host>(?:127\.0\.0\.1|localhost):)(?P<port>\d{2,5})\b"
    r"|(?P<flag>--port[ =])(?P<flag_port>\d{2,5})\b"
)


def move_ports(code: str, ports: dict[int, int]) -> str:
    """The block with its loopback ports (``127.0.0.1:N``, ``--port N``) in ``ports`` moved."""

    def moved(match: re.Match[str]) -> str:
        prefix = match["host"] or match["flag"]
        port = int(match["port"] or match["flag_port"])
        return f"{prefix}{ports.get(port, port)}"

    return _PORT.sub(moved, code)


def _run(argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_every_block_says_how_it_is_tested() -> None:
    unmarked = [s.id for s in SNIPPETS if not s.mark]
    assert not unmarked, (
        "code blocks with no test mark (put <!-- run -->, <!-- run: with CONTEXT -->, "
        "<!-- run: flask-app PATH --> ... or <!-- not run: REASON --> on the line before; "
        f"see tests/docs/snippets.py): {unmarked}"
    )
    unlabelled = [fence for path in doc_files() for fence in unlabelled_fences(path)]
    assert not unlabelled, f"fences that name no language (use text for output): {unlabelled}"


def test_every_mark_and_context_is_known() -> None:
    for snippet in SNIPPETS:
        kind = snippet.mark.removeprefix("run:")
        if snippet.mark.startswith("run:"):
            assert kind in KINDS, f"{snippet.id}: unknown mark {kind!r}; known: {sorted(KINDS)}"
        if snippet.context:
            assert snippet.context in CONTEXTS, (
                f"{snippet.id}: unknown context {snippet.context!r}; known: {sorted(CONTEXTS)}"
            )
    for command in _marked("run:sandbox-command"):
        apps = [s for s in snippets(command.path) if s.mark == "run:own-client-app"]
        assert len(apps) == 1, f"{command.id}: no own-client-app block on its page runs it"


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.id)
def test_snippet_is_well_formed(snippet: Snippet) -> None:
    """Run or not: the Python compiles, every rpkit command parses with the CLI's own
    parser, and every RPKIT_* variable is one rpkit reads."""
    if snippet.language == "python":
        compile(snippet.code, snippet.id, "exec")
    for argv in rpkit_invocations(snippet):
        error = rpkit_parse_error(argv)
        assert error is None, f"{snippet.id}: `rpkit {' '.join(argv)}`: {error}"
    unknown = variables(snippet) - set(known_variables())
    assert not unknown, f"{snippet.id}: rpkit reads no variable {sorted(unknown)}"


@pytest.mark.parametrize("snippet", _marked("run"), ids=lambda s: s.id)
def test_snippet_runs(
    snippet: Snippet, sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        if not snippet.context:
            _run_block(snippet, snippet.code, sandbox, None, tmp_path)
            return
        with CONTEXTS[snippet.context](sandbox, tmp_path, snippet) as prepared:
            if snippet.language != "python":
                written = prepared.rewrite(snippet.code) if prepared.rewrite else snippet.code
                code = move_ports(written, prepared.ports)
                _run_block(snippet, code, sandbox, prepared, tmp_path)
                return
            # A fragment runs here, with the objects the context built for it.
            for key in [k for k in os.environ if k.startswith("RPKIT_")]:
                monkeypatch.delenv(key)
            for key, value in _environment(sandbox, prepared).items():
                if key.startswith("RPKIT_"):
                    monkeypatch.setenv(key, value)
            monkeypatch.chdir(tmp_path)
            namespace = {"__name__": "__docs__", **prepared.namespace}
            code = move_ports(snippet.code, prepared.ports)
            exec(compile(code, snippet.id, "exec"), namespace)
    finally:
        sandbox.reset()


def _run_block(
    snippet: Snippet, code: str, sandbox: SandboxHandle, prepared: Prepared | None, cwd: Path
) -> None:
    result = run_block(snippet.language, code, cwd=cwd, env=_environment(sandbox, prepared))
    assert result.returncode == 0, f"{snippet.id} failed:\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("snippet", _marked("run:server"), ids=lambda s: s.id)
def test_server_snippet_serves(snippet: Snippet, sandbox: SandboxHandle, tmp_path: Path) -> None:
    """A command that serves until stopped: started on free ports, it must answer HTTP."""
    found = {int(m["port"] or m["flag_port"]) for m in _PORT.finditer(snippet.code)}
    ports = {port: free_port() for port in {*found, 8080, 5000} - {0}}
    code = move_ports(snippet.code, ports)
    # rpkit sandbox's default port is 8080 too
    code = re.sub(r"\brpkit sandbox\b(?![^\n]*--port)", f"rpkit sandbox --port {ports[8080]}", code)
    context = CONTEXTS[snippet.context] if snippet.context else None
    with context(sandbox, tmp_path, snippet) if context else _nothing() as prepared:
        env = _environment(None, prepared)
        env.setdefault("RPKIT_SANDBOX_PORT", str(ports[8080]))  # the sample app's sandbox
        if not re.search(r"\bRPKIT_BASE_URL=", code):
            env.setdefault("RPKIT_BASE_URL", f"http://127.0.0.1:{ports[5000]}")
        port = ports[int(snippet.reason)]
        log = tmp_path / "server.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", code],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, f"{snippet.id} stopped:\n{log.read_text()}"
                if _answers(port):
                    break
                assert time.monotonic() < deadline, f"{snippet.id}: nothing answers on {port}"
                time.sleep(0.1)  # polling for the server to listen, not a fixed wait
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _answers(port: int) -> bool:
    """True when anything answers HTTP or https (any certificate: a sandbox's own CA) there."""
    for scheme in ("http", "https"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the unverified https request
                requests.get(
                    f"{scheme}://127.0.0.1:{port}/", timeout=2, verify=False, allow_redirects=False
                )
            return True
        except requests.ConnectionError:
            continue
    return False


class _nothing:
    def __enter__(self) -> Prepared:
        return Prepared()

    def __exit__(self, *_: object) -> None:
        return None


@pytest.mark.parametrize("snippet", _marked("run:help"), ids=lambda s: s.id)
def test_help_snippet_commands_exist(snippet: Snippet) -> None:
    """Commands that install or run for minutes: each answers --help from the repository
    root, and knows every option the docs give it."""
    lines = command_lines(snippet)
    assert lines, f"{snippet.id}: no command"
    for line in lines:
        tokens = words(line)
        argv = [*tokens, "--help"]
        result = _run(
            ["bash", "-c", subprocess.list2cmdline(argv)], cwd=ROOT, env=_environment(None)
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{snippet.id}: `{line} --help` failed:\n{output}"
        for option in [t.split("=")[0] for t in tokens if t.startswith("--")]:
            assert option in output, f"{snippet.id}: `{line}`: {option} is not in its --help"


@pytest.mark.parametrize("snippet", _marked("run:pip"), ids=lambda s: s.id)
def test_pip_snippet_resolves(snippet: Snippet) -> None:
    """pip lines, as a dry run without an index against this checkout: extras must exist."""
    lines = [words(line) for line in command_lines(snippet)]
    installs = [tokens[2:] for tokens in lines if tokens[:2] == ["pip", "install"]]
    assert installs, f"{snippet.id}: no pip install line"
    for args in installs:
        argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", *args]
        result = _run(argv, cwd=ROOT, env=_environment(None))
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{snippet.id}: pip install {args}:\n{output}"
        assert "does not provide the extra" not in output, f"{snippet.id}: {output}"


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
    snippet: Snippet, tmp_path: Path, app_port: int
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The page's ``rpkit sandbox --client my-app:secret --redirect-uri ...`` block, run as a
    user runs it (port 5081 moved to the app's free port, the sandbox on a free port); return
    the process and the environment block it printed."""
    commands = [s for s in snippets(snippet.path) if s.mark == "run:sandbox-command"]
    assert len(commands) == 1, f"{snippet.id}: the page needs one <!-- run: sandbox-command -->"
    lines = command_lines(commands[0])
    assert len(lines) == 1, f"{commands[0].id}: one command expected"
    argv = words(move_ports(lines[0], {5081: app_port}))
    assert argv[:2] == ["rpkit", "sandbox"], f"{commands[0].id}: not an rpkit sandbox command"
    data_dir = str(tmp_path / "sandbox")
    process = subprocess.Popen(
        [sys.executable, "-m", "rpkit", *argv[1:], "--port", "0", "--data-dir", data_dir],
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
    code_lines = [line for line in snippet.code.splitlines() if line.strip()]
    assert len(code_lines) <= 20, f"{snippet.id}: the quick start promises a 20-line app"
    server = AppServer()
    path = snippet.reason
    process, env = _sandbox_command(snippet, tmp_path, server.port)
    try:
        assert env["RPKIT_OIDC_CLIENT_ID"] == "my-app"  # the env block shows the app's client
        for key in [k for k in os.environ if k.startswith("RPKIT_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code = move_ports(snippet.code, {5081: server.port})
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
