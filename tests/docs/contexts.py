"""The prepared contexts a docs fragment runs in (``<!-- run: with CONTEXT -->``).

A fragment is the body of a handler or a call on an object a block above built. Its
context supplies exactly what the surrounding text says is there, built for real against
the docs sandbox: a signed-in crew member's callback, a logout token the sandbox signed, a
roster file. Each context's docstring is what a fragment may use.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from rpkit import OidcConfig
from rpkit.oidc import BROWSER_COOKIE, LoginResult, OidcClient
from rpkit.sandbox import env_block
from rpkit.sandbox.config import OidcClientConfig
from rpkit.scim import ScimClient, ScimConfig
from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxHandle
from tests.flask.helpers import INGRID, AppServer, app_config, sandbox_pick

from .snippets import Snippet, environment, run_block, snippets

# The demo client's registered redirect URIs (the sample app on 127.0.0.1:5000); a client in
# a context never serves them: the context plays the browser and reads the redirect.
DEMO_REDIRECT_URI = "http://127.0.0.1:5000/auth/oidc/callback"
PASSWORD = "Dualog-Demo-1"

# A client of the docs sandbox for machine-to-machine calls: client credentials for the
# crew API, and the legacy password grant.
REPORTING_CLIENT = OidcClientConfig(
    client_id="crew-report",
    client_secret="crew-report-secret",
    scopes=("openid", "profile", "email", "crew.public", "crew_read"),
    grant_types=("client_credentials", "password"),
)


@dataclass
class Prepared:
    """What a fragment runs with."""

    namespace: dict[str, Any] = field(default_factory=dict)  # names a Python fragment uses
    env: dict[str, str] = field(default_factory=dict)  # added to the sandbox's RPKIT_* env
    keep_sandbox_env: bool = True  # False: the block must find its settings elsewhere
    ports: dict[int, int] = field(default_factory=dict)  # port in the block -> real port
    rewrite: Callable[[str], str] | None = None  # what the context writes out (a default)


def _demo_client(sandbox: SandboxHandle) -> OidcClient:
    env = {
        **env_block(sandbox.state),
        "RPKIT_OIDC_REDIRECT_URI": DEMO_REDIRECT_URI,
        "RPKIT_OIDC_POST_LOGOUT_REDIRECT_URI": "http://127.0.0.1:5000/",
    }
    return OidcClient(OidcConfig.from_env(env))


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _sign_in(client: OidcClient, browser: requests.Session) -> tuple[dict[str, str], str]:
    """Start a login, pick the Master's crew card at the sandbox; the callback's query and
    the browser-binding cookie value the login was started with."""
    started = client.start_login()
    answer = sandbox_pick(browser, browser.get(started.url, timeout=10), INGRID)
    assert answer.status_code in (302, 303), answer.text[:300]
    return _query(answer.headers["Location"]), started.cookie.value


def _login(client: OidcClient, browser: requests.Session) -> LoginResult:
    params, browser_token = _sign_in(client, browser)
    return client.finish_login(params, browser_token=browser_token)


@contextmanager
def oidc_client(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """``client``: an ``OidcClient`` for the sandbox's demo client (the env block), whose
    ``redirect_uri`` is registered there."""
    yield Prepared({"client": _demo_client(sandbox)})


@contextmanager
def oidc_callback(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """Inside the callback handler: ``client`` started a login, the Master signed in at the
    sandbox, and ``request.args`` is the query the browser came back with."""
    client = _demo_client(sandbox)
    with requests.Session() as browser:
        args, browser_token = _sign_in(client, browser)
        cookies = {BROWSER_COOKIE: browser_token}
        request = SimpleNamespace(args=args, form={}, cookies=cookies)
        yield Prepared({"client": client, "request": request})


@contextmanager
def oidc_signed_in(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """Inside the logout handler: ``client``, the session's ``raw_id_token`` (kept since the
    login) and a fresh ``logout_state``."""
    client = _demo_client(sandbox)
    with requests.Session() as browser:
        result = _login(client, browser)
        yield Prepared(
            {
                "client": client,
                "raw_id_token": result.tokens.id_token,
                "logout_state": secrets.token_urlsafe(16),
            }
        )


@contextmanager
def oidc_logout_return(
    sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet
) -> Iterator[Prepared]:
    """At the post-logout redirect URI: the browser went to ``client.end_session_url(...)``
    with ``logout_state``, and the sandbox sent it back with ``request.args``."""
    client = _demo_client(sandbox)
    with requests.Session() as browser:
        result = _login(client, browser)
        logout_state = secrets.token_urlsafe(16)
        url = client.end_session_url(id_token_hint=result.tokens.id_token, state=logout_state)
        back = browser.get(url, allow_redirects=False, timeout=10)
        assert back.status_code in (302, 303), back.text[:300]
        request = SimpleNamespace(args=_query(back.headers["Location"]), form={})
        yield Prepared({"client": client, "logout_state": logout_state, "request": request})


@contextmanager
def oidc_backchannel(
    sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet
) -> Iterator[Prepared]:
    """Inside the back-channel logout handler: ``client``, and ``request.form`` holding the
    ``logout_token`` the sandbox signed for the Master's session."""
    client = _demo_client(sandbox)
    with requests.Session() as browser:
        identity = _login(client, browser).id_token
        token, _ = sandbox.state.tokens.issue_logout_token(
            client_id=DEMO_CLIENT_ID,
            subject=str(identity.claims["sub"]),
            sid=str(identity.claims["sid"]),
            lifetime=120,
        )
        request = SimpleNamespace(args={}, form={"logout_token": token})
        yield Prepared({"client": client, "request": request})


@contextmanager
def oidc_frontchannel(
    sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet
) -> Iterator[Prepared]:
    """Inside the front-channel logout handler: ``client``, and ``request.args`` with the
    ``iss`` and ``sid`` the provider's iframe sends for the Master's session."""
    client = _demo_client(sandbox)
    with requests.Session() as browser:
        identity = _login(client, browser).id_token
        args = {"iss": client.config.issuer, "sid": str(identity.claims["sid"])}
        yield Prepared({"client": client, "request": SimpleNamespace(args=args, form={})})


@contextmanager
def oidc_machine(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """``client``: an ``OidcClient`` for a confidential client with client credentials and
    the password grant, whose API accepts tokens for the sandbox's ``crew-api``;
    ``username`` / ``password``: the Master's; ``bearer``: a ``crew_read`` access token the
    sandbox issued."""
    config = OidcConfig(
        issuer=sandbox.issuer,
        client_id=REPORTING_CLIENT.client_id,
        client_secret=REPORTING_CLIENT.client_secret,
        access_token_audience=("crew-api",),
    )
    client = OidcClient(config)
    bearer = client.client_credentials(("crew_read",)).access_token
    yield Prepared({"client": client, "username": INGRID, "password": PASSWORD, "bearer": bearer})


@contextmanager
def scim_client(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """``client``: a ``ScimClient`` from the sandbox's ``RPKIT_SCIM_*`` block (CMS import
    client, ``crew_import``). The sandbox's crew store is reset afterwards."""
    yield Prepared({"client": ScimClient(ScimConfig.from_env(env_block(sandbox.state)))})


ROSTER_HEADER = (
    "First Name,Surname,Email Address,Employee ID,Rank,Department,IMO Number,"
    "Contract Start Date,Contract End Date"
)
EXPORT_HEADER = "First Name,Surname,E-mail,Staff No,Rank,IMO,Contract Start Date"


def _roster_rows(sandbox: SandboxHandle) -> list[list[str]]:
    """The sandbox's crew as a CMS would export them today."""
    client = ScimClient(ScimConfig.from_env(env_block(sandbox.state)))
    rows = []
    for user in client.list_users():
        crew = user.crew
        rows.append(
            [
                user.given_name,
                user.family_name,
                user.user_name,
                user.external_id or "",
                crew.rank or "",
                crew.department or "",
                crew.ship_imo or "",
                crew.contract_start_date or "",
                crew.contract_end_date or "",
            ]
        )
    return rows


@contextmanager
def roster(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """A shell directory holding ``roster.csv`` (the sandbox's crew, one new cadet; UTF-8,
    the default headers) and ``export.csv`` (one new bosun; Windows-1252, the headers
    ``E-mail``, ``Staff No``, ``IMO`` and day-first dates), with the sandbox's ``RPKIT_SCIM_*``
    environment. The crew store is reset afterwards."""
    import csv
    from datetime import date, timedelta

    start = date.today() + timedelta(days=30)
    with (tmp_path / "roster.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(ROSTER_HEADER.split(","))
        writer.writerows(_roster_rows(sandbox))
        cadet = ["Kari", "Hansen", "kari.hansen@nordic-aurora.example", "EMP-2001", "Cadet"]
        writer.writerow([*cadet, "Deck", "9312456", start.isoformat(), ""])
    with (tmp_path / "export.csv").open("w", newline="", encoding="cp1252") as out:
        writer = csv.writer(out)
        writer.writerow(EXPORT_HEADER.split(","))
        bosun = ["Søren", "Ødegård", "soren.odegard@nordic-aurora.example", "EMP-2002"]
        writer.writerow([*bosun, "Bosun", "9312456", start.strftime("%d.%m.%Y")])
    yield Prepared()


@contextmanager
def env_file(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """A shell directory holding ``crew-app.env``, the app's ``RPKIT_*`` settings (the
    sandbox's block) as a service reads them; the shell itself has no ``RPKIT_*``."""
    lines = [f"{key}={value}" for key, value in env_block(sandbox.state).items()]
    (tmp_path / "crew-app.env").write_text("# crew app\n" + "\n".join(lines) + "\n")
    yield Prepared(keep_sandbox_env=False)


def _port(sandbox: SandboxHandle) -> int:
    return int(urlsplit(sandbox.base_url).port or 80)


@contextmanager
def _served(server: AppServer, app: Any) -> Iterator[None]:
    server.start(app)
    try:
        yield
    finally:
        server.stop()


@contextmanager
def demo(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """The demo running: the sample app as ``scripts/demo`` serves it, its bearer API
    accepting the demo client's tokens, with the sandbox as its provider. The block's
    127.0.0.1:5000 is the app and 127.0.0.1:8080 the sandbox (moved to their real ports)."""
    from example_app import create_app

    server = AppServer()
    with _served(server, create_app(app_config(server.base_url, sandbox, saml=False))):
        yield Prepared(ports={5000: server.port, 8080: _port(sandbox)})


@contextmanager
def page_app(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """The page's first ``python`` block that defines a module-level ``app`` (a Flask app),
    served with the sandbox's environment. The block's 127.0.0.1:5000 is the app and
    127.0.0.1:8080 the sandbox (moved to their real ports)."""
    import types

    source = next(
        (s for s in snippets(snippet.path) if s.language == "python" and "\napp = " in s.code),
        None,
    )
    assert source is not None, f"{snippet.id}: no block on the page defines `app`"
    saved = dict(os.environ)
    try:
        os.environ.update(env_block(sandbox.state))
        module = types.ModuleType("page_app")
        exec(compile(source.code, source.id, "exec"), module.__dict__)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    server = AppServer()
    with _served(server, module.__dict__["app"]):
        yield Prepared(ports={5000: server.port, 8080: _port(sandbox)})


@contextmanager
def steps_above(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """The page followed step by step: its earlier ``<!-- run -->`` shell blocks have run in
    this directory against this sandbox (the files they wrote are here, the changes they
    made are in the sandbox)."""
    env = environment(env_block(sandbox.state))
    for step in snippets(snippet.path):
        if step.line >= snippet.line:
            break
        if step.mark == "run" and not step.context and step.language != "python":
            done = run_block(step.language, step.code, cwd=tmp_path, env=env)
            assert done.returncode == 0, f"{step.id} (a step above) failed:\n{done.stderr}"
    yield Prepared()


@contextmanager
def ship_sandbox(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """A ship server rehearsed ashore, as ``rpkit sandbox --tls --hostname localhost
    127.0.0.1 --data-dir ship-sandbox`` starts it: https on the block's port 8080 (moved to
    a free one), its private CA in ``ship-sandbox/tls/ca.crt`` of this directory. A Python
    block gets the ship settings of the shell block above it in its environment."""
    from rpkit.testing import sandbox_server

    with sandbox_server(
        tmp_path / "ship-sandbox", tls=True, tls_hostnames=("localhost", "127.0.0.1")
    ) as ship:
        port = _port(ship)
        env = {
            "RPKIT_OIDC_SHIP_HOST": f"localhost:{port}",
            "RPKIT_CA_BUNDLE": "ship-sandbox/tls/ca.crt",
            "RPKIT_OIDC_CLIENT_ID": DEMO_CLIENT_ID,
            "RPKIT_OIDC_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        }
        yield Prepared(env=env, keep_sandbox_env=False, ports={8080: port})


@contextmanager
def seed_file(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """A directory holding ``my-crew.json``, a seed file (a copy of the shipped one)."""
    from rpkit.sandbox.config import SEED_FILE

    shutil.copy(SEED_FILE, tmp_path / "my-crew.json")
    yield Prepared(keep_sandbox_env=False)


@contextmanager
def sp_metadata(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """A directory holding ``sp-metadata.xml``: the metadata of an app's SAML SP at
    http://127.0.0.1:5081 (rpkit's own, signed with the throwaway demo key pair)."""
    from rpkit.saml import SamlConfig, ServiceProvider
    from tests.flask.helpers import SP_CERT, SP_KEY

    config = SamlConfig(
        sp_entity_id="http://127.0.0.1:5081/auth/saml/metadata",
        acs_url="http://127.0.0.1:5081/auth/saml/acs",
        sp_key_file=str(SP_KEY),
        sp_cert_file=str(SP_CERT),
    )
    (tmp_path / "sp-metadata.xml").write_bytes(ServiceProvider(config, metadata=None).sp_metadata())
    yield Prepared(keep_sandbox_env=False)


_CONTROL = re.compile(
    r"(?P<command>(?:^|(?<=;))\s*rpkit sandbox (?:counts|fault|clear-faults|next-claims|rotate-keys"
    r"|publish-keys|rotate-saml-cert|publish-saml-certs|metadata|client-secret|tls|clock)\b)"
    r"(?![^\n;]*--url)",
    re.MULTILINE,
)


@contextmanager
def running_sandbox(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """The sandbox running at the block's 127.0.0.1:8080 (moved to its real port; a control
    command without ``--url`` gets the default ``--url http://127.0.0.1:8080`` written out
    first), its admin token in ``.rpkit-sandbox/admin-token`` of this directory as ``rpkit
    sandbox`` keeps it."""
    data_dir = tmp_path / ".rpkit-sandbox"
    data_dir.mkdir()
    (data_dir / "admin-token").write_text(sandbox.admin_token)

    def with_default_url(code: str) -> str:
        return _CONTROL.sub(r"\g<command> --url http://127.0.0.1:8080", code)

    yield Prepared(ports={8080: _port(sandbox)}, rewrite=with_default_url)


@contextmanager
def app_py(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """A directory holding ``app.py``: the first ``flask-app`` block of the same page."""
    apps = [s for s in snippets(snippet.path) if s.mark == "run:flask-app"]
    assert apps, f"{snippet.id}: no flask-app block on the page to save as app.py"
    (tmp_path / "app.py").write_text(apps[0].code)
    yield Prepared()


@contextmanager
def ship_ca(sandbox: SandboxHandle, tmp_path: Path, snippet: Snippet) -> Iterator[Prepared]:
    """The working directory holds ``ship-ca.pem``, a ship's private CA certificate (made by
    the sandbox's ``--tls`` machinery), and ``RPKIT_OIDC_CLIENT_SECRET`` is set."""
    from rpkit.sandbox.tls import SandboxTls

    tls = SandboxTls(tmp_path / "ship", ("10.0.0.5",))
    shutil.copy(tls.ca_file, tmp_path / "ship-ca.pem")
    yield Prepared(env={"RPKIT_OIDC_CLIENT_SECRET": DEMO_CLIENT_SECRET})


CONTEXTS: dict[str, Any] = {
    "oidc-client": oidc_client,
    "oidc-callback": oidc_callback,
    "oidc-signed-in": oidc_signed_in,
    "oidc-logout-return": oidc_logout_return,
    "oidc-backchannel": oidc_backchannel,
    "oidc-frontchannel": oidc_frontchannel,
    "oidc-machine": oidc_machine,
    "scim-client": scim_client,
    "roster": roster,
    "env-file": env_file,
    "demo": demo,
    "app-py": app_py,
    "page-app": page_app,
    "steps-above": steps_above,
    "ship-sandbox": ship_sandbox,
    "seed-file": seed_file,
    "sp-metadata": sp_metadata,
    "running-sandbox": running_sandbox,
    "ship-ca": ship_ca,
}
