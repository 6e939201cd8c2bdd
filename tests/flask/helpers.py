"""Real HTTP servers on loopback and a scripted browser for the Flask extension tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from werkzeug.serving import BaseWSGIServer, make_server

from rpkit.sandbox.config import (
    CREW_CLAIMS_MAPPING,
    DEFAULT_CLIENTS,
    OidcClientConfig,
    SamlServiceProviderConfig,
)
from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxHandle, sandbox_server

ROOT = Path(__file__).resolve().parents[2]
SP_KEY = ROOT / "certs" / "demo-sp.key"
SP_CERT = ROOT / "certs" / "demo-sp.crt"

INGRID = "ingrid.larsen@nordic-aurora.example"  # Master, MV Nordic Aurora
TOMAS = "tomas.berg@nordic-aurora.example"  # Chief Officer
JONAS = "jonas.dela.cruz@polar-voyager.example"  # AB, MT Polar Voyager
LENA = "lena.holm@polar-voyager.example"  # inactive


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Deferred:
    target: Callable[..., Iterable[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        assert self.target is not None, "app not mounted yet"
        return self.target(environ, start_response)


class AppServer:
    """A werkzeug server bound on a free loopback port before the app exists.

    The app needs its own base URL (redirect URIs), so bind first, then :meth:`start`.
    """

    def __init__(self) -> None:
        self._deferred = _Deferred()
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._deferred, threaded=True)
        self.port = int(self._server.server_port)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self, app: Any) -> AppServer:
        self._deferred.target = app
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def sandbox_clients(bases: Iterable[str]) -> tuple[OidcClientConfig, ...]:
    bases = list(bases)
    demo = OidcClientConfig(
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        redirect_uris=tuple(f"{b}/auth/oidc/callback" for b in bases),
        post_logout_redirect_uris=tuple(f"{b}/" for b in bases),
        grant_types=("authorization_code", "refresh_token", "password"),
        allow_offline_access=True,  # as the default demo client: rpkit.testing's helpers
    )
    return (demo, *(c for c in DEFAULT_CLIENTS if c.client_id != DEMO_CLIENT_ID))


def sandbox_sps(bases: Iterable[str]) -> tuple[SamlServiceProviderConfig, ...]:
    return tuple(
        SamlServiceProviderConfig(
            entity_id=f"{b}/auth/saml/metadata",
            acs_urls=(f"{b}/auth/saml/acs",),
            slo_urls=(f"{b}/auth/saml/slo",),
            claims_mapping=CREW_CLAIMS_MAPPING,
        )
        for b in bases
    )


@contextmanager
def sandbox_for(data_dir: Path, bases: Iterable[str]) -> Iterator[SandboxHandle]:
    """A sandbox on a free port that knows the apps at ``bases``."""
    bases = list(bases)
    with sandbox_server(
        data_dir, clients=sandbox_clients(bases), service_providers=sandbox_sps(bases)
    ) as handle:
        yield handle


def app_config(
    base_url: str, sandbox: SandboxHandle | None, *, oidc: bool = True, saml: bool = True
) -> dict[str, Any]:
    """``create_app`` settings for an app at ``base_url`` using ``sandbox``."""
    config: dict[str, Any] = {"RPKIT_BASE_URL": base_url, "RPKIT_SANDBOX": "off"}
    if sandbox is not None and oidc:
        config.update(
            RPKIT_OIDC_ISSUER=sandbox.issuer,
            RPKIT_OIDC_CLIENT_ID=DEMO_CLIENT_ID,
            RPKIT_OIDC_CLIENT_SECRET=DEMO_CLIENT_SECRET,
            # As the sample app does with its embedded sandbox: the API accepts the
            # tokens the sandbox issues to the demo client.
            RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS=DEMO_CLIENT_ID,
        )
    if sandbox is not None and saml:
        config.update(
            RPKIT_SAML_IDP_METADATA_URL=sandbox.urls["saml_metadata"],
            RPKIT_SAML_SP_KEY_FILE=str(SP_KEY),
            RPKIT_SAML_SP_CERT_FILE=str(SP_CERT),
        )
    return config


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "id": a.get("id", ""), "fields": {}})
        elif tag == "input" and self.forms and a.get("type") == "hidden":
            self.forms[-1]["fields"][a.get("name", "")] = a.get("value", "")


def forms(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def sandbox_pick(
    http: requests.Session, page: requests.Response, user: str | None, *, deny: bool = False
) -> requests.Response:
    """Answer the sandbox login page: click a crew card, or Deny."""
    assert page.status_code == 200, page.text[:300]
    form = forms(page.text)[0]
    data = dict(form["fields"])
    if deny:
        data["deny"] = "1"
    else:
        data["card"] = user or INGRID
    return http.post(urljoin(page.url, form["action"]), data=data, allow_redirects=False)


def oidc_callback_url(
    http: requests.Session,
    base_url: str,
    user: str | None = INGRID,
    *,
    next_path: str = "/profile",
    deny: bool = False,
) -> str:
    """Start an OIDC login at the app and sign in at the sandbox; return the callback URL."""
    start = http.get(
        f"{base_url}/auth/login/oidc", params={"next": next_path}, allow_redirects=False
    )
    assert start.status_code == 302, start.text[:300]
    page = http.get(start.headers["Location"], allow_redirects=False)
    answer = sandbox_pick(http, page, user, deny=deny)
    assert answer.status_code in (302, 303), answer.text[:300]
    return str(answer.headers["Location"])


def oidc_login(
    http: requests.Session, base_url: str, user: str | None = INGRID, *, next_path: str = "/profile"
) -> requests.Response:
    """A full OIDC login with a scripted browser; return the callback's answer."""
    return http.get(
        oidc_callback_url(http, base_url, user, next_path=next_path), allow_redirects=False
    )


def saml_acs_post(
    http: requests.Session,
    base_url: str,
    user: str | None = INGRID,
    *,
    next_path: str = "/profile",
    deny: bool = False,
) -> tuple[str, dict[str, str]]:
    """Start a SAML login and sign in at the sandbox; return the ACS URL and form fields."""
    start = http.get(
        f"{base_url}/auth/login/saml", params={"next": next_path}, allow_redirects=False
    )
    assert start.status_code == 302, start.text[:300]
    page = http.get(start.headers["Location"], allow_redirects=False)
    posted = sandbox_pick(http, page, user, deny=deny)
    assert posted.status_code == 200, posted.text[:300]
    form = forms(posted.text)[0]
    return str(form["action"]), dict(form["fields"])


def saml_login(
    http: requests.Session, base_url: str, user: str | None = INGRID, *, next_path: str = "/profile"
) -> requests.Response:
    action, fields = saml_acs_post(http, base_url, user, next_path=next_path)
    return http.post(action, data=fields, allow_redirects=False)
