"""OIDC Back-Channel Logout from the sandbox, received and validated by rpkit's own RP code."""

from __future__ import annotations

import base64
import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from rpkit.config import OidcConfig
from rpkit.errors import RpkitError
from rpkit.oidc import OidcClient
from rpkit.sandbox.config import DEFAULT_CLIENTS, OidcClientConfig
from rpkit.testing import SandboxHandle, sandbox_server

from .helpers import INGRID, TOMAS, authorize_params, pick_card, pkce_pair, query_of

APP_REDIRECT = "http://127.0.0.1:5000/bcl/callback"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
INGRID_ID = "87234"


class Receiver:
    """A loopback RP back-channel endpoint: records each POST; answers ``status``.

    With ``hang`` set, it holds every request until the event is set (a stuck RP).
    """

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[str, dict[str, list[str]]]] = queue.Queue()
        self.status = 200
        self.hang = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                if receiver.hang.is_set():
                    receiver.release.wait(10)
                receiver.received.put((self.path, form))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self, timeout: float = 10) -> tuple[str, str]:
        """The next (path, logout_token) received, waiting up to ``timeout``."""
        path, form = self.received.get(timeout=timeout)
        assert list(form) == ["logout_token"]
        return path, form["logout_token"][0]

    def clear(self) -> None:
        self.status = 200
        self.hang.clear()
        self.release.set()
        while not self.received.empty():
            self.received.get_nowait()
        self.release.clear()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(client_id: str, backchannel: str | None) -> OidcClientConfig:
    return OidcClientConfig(
        client_id=client_id,
        client_secret=f"{client_id}-secret",
        redirect_uris=(APP_REDIRECT,),
        post_logout_redirect_uris=("http://127.0.0.1:5000/",),
        backchannel_logout_uri=backchannel,
        allow_offline_access=True,
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rp = Receiver()
    rp.thread.start()
    yield rp
    rp.release.set()
    rp.server.shutdown()
    rp.server.server_close()


@pytest.fixture(scope="module")
def _bcl_sandbox(
    tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[SandboxHandle]:
    clients = (
        *DEFAULT_CLIENTS,
        _client("bcl-app", f"{receiver.url}/app/backchannel-logout"),
        _client("bcl-other", f"{receiver.url}/other/backchannel-logout"),
        _client("bcl-down", f"http://127.0.0.1:{_closed_port()}/backchannel-logout"),
        _client("bcl-none", None),
    )
    with sandbox_server(
        tmp_path_factory.mktemp("bcl"), clients=clients, backchannel_logout_timeout=0.5
    ) as handle:
        yield handle


@pytest.fixture
def bcl(_bcl_sandbox: SandboxHandle, receiver: Receiver) -> SandboxHandle:
    """The back-channel sandbox restored to its seed, with an empty receiver."""
    receiver.clear()
    _bcl_sandbox.reset()
    return _bcl_sandbox


def _login(
    http: requests.Session, sandbox: SandboxHandle, client_id: str, user: str = INGRID
) -> dict[str, Any]:
    """Sign in to ``client_id`` in the browser ``http`` (reusing its session); return tokens."""
    verifier, challenge = pkce_pair()
    params = authorize_params(
        challenge,
        client_id=client_id,
        redirect_uri=APP_REDIRECT,
        scope="openid profile email crew.public offline_access",
    )
    if http.cookies:
        params["prompt"] = "none"
        answer = http.get(sandbox.urls["authorize"], params=params, allow_redirects=False)
    else:
        answer = pick_card(http, sandbox, params, user)
    assert answer.status_code == 302, answer.text[:300]
    code = query_of(answer.headers["Location"])["code"]
    tokens = requests.post(
        sandbox.urls["token"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": APP_REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, f"{client_id}-secret"),
        timeout=10,
    )
    assert tokens.status_code == 200, tokens.text
    result: dict[str, Any] = tokens.json()
    return result


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(text: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return data

    header, payload, _ = token.split(".")
    return part(header), part(payload)


def _rp(sandbox: SandboxHandle, client_id: str) -> OidcClient:
    return OidcClient(
        OidcConfig(
            issuer=sandbox.issuer,
            client_id=client_id,
            client_secret=f"{client_id}-secret",
            redirect_uri=APP_REDIRECT,
        )
    )


def _deliveries_when(
    sandbox: SandboxHandle, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        deliveries = sandbox.backchannel_deliveries()
        if done(deliveries) or time.monotonic() > deadline:
            return deliveries
        time.sleep(0.02)


def test_discovery_advertises_backchannel_logout(bcl: SandboxHandle) -> None:
    """Discovery says back-channel logout and its session id are supported."""
    doc = requests.get(bcl.urls["discovery"], timeout=10).json()
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    assert "sid" in doc["claims_supported"]


def test_demo_client_has_no_backchannel_uri() -> None:
    """rpkit-demo has no back-channel URI: Dualog's integration form may not offer one."""
    demo = next(c for c in DEFAULT_CLIENTS if c.client_id == "rpkit-demo")
    assert demo.backchannel_logout_uri is None and demo.frontchannel_logout_uri is None


def test_id_tokens_carry_the_session_sid(bcl: SandboxHandle) -> None:
    """ID tokens from the code flow and its refresh carry one sid per browser session."""
    with requests.Session() as http:
        first = _login(http, bcl, "bcl-app")
        second = _login(http, bcl, "bcl-other")
    sid = _claims(first["id_token"])[1]["sid"]
    assert sid and _claims(second["id_token"])[1]["sid"] == sid
    assert sid not in http.cookies.values()  # the public sid is not the session cookie
    refreshed = requests.post(
        bcl.urls["token"],
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=("bcl-app", "bcl-app-secret"),
        timeout=10,
    ).json()
    assert _claims(refreshed["id_token"])[1]["sid"] == sid


def test_end_session_posts_a_logout_token_rpkit_accepts(
    bcl: SandboxHandle, receiver: Receiver
) -> None:
    """Signing out at endsession POSTs a signed logout token that rpkit's RP validates."""
    with requests.Session() as http:
        tokens = _login(http, bcl, "bcl-app")
        answer = http.get(
            bcl.urls["endsession"], params={"id_token_hint": tokens["id_token"]}, timeout=10
        )
    assert answer.status_code == 200 and "data-testid=signed-out" in answer.text
    path, token = receiver.take()
    assert path == "/app/backchannel-logout"
    header, claims = _claims(token)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256"
    assert header["kid"] == bcl.state.keys.signing_key.kid
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    assert claims["aud"] == "bcl-app" and claims["exp"] > claims["iat"]
    validated = _rp(bcl, "bcl-app").validate_logout_token(token)
    assert validated.subject == INGRID_ID
    assert validated.session_id == _claims(tokens["id_token"])[1]["sid"]
    deliveries = _deliveries_when(bcl, lambda d: len(d) == 1)
    assert [(d["client_id"], d["ok"], d["status"]) for d in deliveries] == [("bcl-app", True, 200)]
    assert deliveries[0]["jti"] == claims["jti"]


def test_logout_token_for_another_client_is_refused_by_rpkit(
    bcl: SandboxHandle, receiver: Receiver
) -> None:
    """Each client gets its own audience: bcl-other's token does not pass as bcl-app's."""
    with requests.Session() as http:
        _login(http, bcl, "bcl-other")
    bcl.admin("POST", "backchannel-logout", {"user": INGRID})
    _, token = receiver.take()
    with pytest.raises(RpkitError) as caught:
        _rp(bcl, "bcl-app").validate_logout_token(token)
    assert getattr(caught.value, "reason", None) == "audience"


def test_admin_logout_reaches_every_client_of_the_session(
    bcl: SandboxHandle, receiver: Receiver
) -> None:
    """The admin call ends the user's sessions and notifies each client signed in to."""
    with requests.Session() as http:
        _login(http, bcl, "bcl-app")
        _login(http, bcl, "bcl-other")
        _login(http, bcl, "bcl-none")
        result = bcl.admin("POST", "backchannel-logout", {"user": INGRID})
        assert result["sessions"] == 1
        assert sorted((d["client_id"], d["ok"]) for d in result["deliveries"]) == [
            ("bcl-app", True),
            ("bcl-other", True),
        ]
        got = dict(receiver.take() for _ in range(2))
        assert receiver.received.empty()
        assert _claims(got["/app/backchannel-logout"])[1]["aud"] == "bcl-app"
        assert _claims(got["/other/backchannel-logout"])[1]["aud"] == "bcl-other"
        _rp(bcl, "bcl-other").validate_logout_token(got["/other/backchannel-logout"])
        # The session is gone: a silent sign-in now needs the login page.
        _, challenge = pkce_pair()
        params = authorize_params(
            challenge, client_id="bcl-app", redirect_uri=APP_REDIRECT, prompt="none"
        )
        again = http.get(bcl.urls["authorize"], params=params, allow_redirects=False, timeout=10)
    assert "code=" not in again.headers.get("Location", "")


def test_admin_logout_of_a_user_without_sessions_sends_nothing(bcl: SandboxHandle) -> None:
    """No session, nothing to notify; an unknown user is a 400."""
    assert bcl.admin("POST", "backchannel-logout", {"user": TOMAS}) == {
        "sessions": 0,
        "deliveries": [],
    }
    answer = requests.post(
        f"{bcl.base_url}/_sandbox/backchannel-logout",
        json={"user": "nobody@nowhere.example"},
        headers={"Authorization": f"Bearer {bcl.admin_token}"},
        timeout=10,
    )
    assert answer.status_code == 400


def test_dead_rp_neither_blocks_nor_breaks_end_session(bcl: SandboxHandle) -> None:
    """An RP that refuses connections is logged and recorded; the browser is signed out."""
    with requests.Session() as http:
        tokens = _login(http, bcl, "bcl-down")
        answer = http.get(
            bcl.urls["endsession"], params={"id_token_hint": tokens["id_token"]}, timeout=10
        )
    assert answer.status_code == 200 and "data-testid=signed-out" in answer.text
    deliveries = _deliveries_when(bcl, lambda d: len(d) == 1)
    assert len(deliveries) == 1
    assert deliveries[0]["client_id"] == "bcl-down" and deliveries[0]["ok"] is False
    assert deliveries[0]["status"] is None and deliveries[0]["error"]


def test_stuck_rp_does_not_delay_end_session(bcl: SandboxHandle, receiver: Receiver) -> None:
    """An RP that never answers costs the browser nothing; the delivery times out."""
    receiver.hang.set()
    with requests.Session() as http:
        tokens = _login(http, bcl, "bcl-app")
        started = time.monotonic()
        answer = http.get(
            bcl.urls["endsession"], params={"id_token_hint": tokens["id_token"]}, timeout=10
        )
        took = time.monotonic() - started
    assert answer.status_code == 200 and took < 0.5
    deliveries = _deliveries_when(bcl, lambda d: len(d) == 1)
    receiver.release.set()
    receiver.take()  # the held request, so it cannot surface in a later test
    assert deliveries[0]["ok"] is False and "timed out" in str(deliveries[0]["error"])


def test_rp_error_status_is_recorded(bcl: SandboxHandle, receiver: Receiver) -> None:
    """An RP answering 400 is a failed delivery with that status."""
    receiver.status = 400
    with requests.Session() as http:
        _login(http, bcl, "bcl-app")
    deliveries = bcl.backchannel_logout(INGRID)
    assert [(d["ok"], d["status"]) for d in deliveries] == [(False, 400)]


def test_end_session_without_cookie_finds_the_session_by_sid(
    bcl: SandboxHandle, receiver: Receiver
) -> None:
    """An RP-initiated logout from a client without the cookie ends the session its
    id_token_hint names."""
    with requests.Session() as http:
        tokens = _login(http, bcl, "bcl-app")
    answer = requests.get(
        bcl.urls["endsession"], params={"id_token_hint": tokens["id_token"]}, timeout=10
    )
    assert answer.status_code == 200
    _, token = receiver.take()
    assert _claims(token)[1]["sid"] == _claims(tokens["id_token"])[1]["sid"]
    assert bcl.state.sessions == {}


def test_password_grant_tokens_have_no_id_token_and_no_sid(bcl: SandboxHandle) -> None:
    """The password grant opens no browser session and, as in Duende, returns no ID token."""
    tokens = bcl.password_tokens(INGRID)
    assert "id_token" not in tokens
    assert "sid" not in _claims(tokens["access_token"])[1]


def test_next_logout_token_claims_can_be_overridden(bcl: SandboxHandle, receiver: Receiver) -> None:
    """next-token-claims with token=logout_token lets an RP test a bad logout token."""
    bcl.set_next_token_claims({"nonce": "n-1", "events": None}, token="logout_token")
    with requests.Session() as http:
        _login(http, bcl, "bcl-app")
    bcl.admin("POST", "backchannel-logout", {"user": INGRID})
    _, token = receiver.take()
    claims = _claims(token)[1]
    assert claims["nonce"] == "n-1" and "events" not in claims
    with pytest.raises(RpkitError):
        _rp(bcl, "bcl-app").validate_logout_token(token)


def test_backchannel_uri_must_be_absolute_http() -> None:
    """A relative or fragment-bearing back-channel URI is a configuration error."""
    from rpkit.errors import ConfigurationError

    for uri in ("/logout", "http://rp.example/logout#frag", "ftp://rp.example/logout"):
        with pytest.raises(ConfigurationError):
            _client("x", uri)


def test_saml_logout_notifies_oidc_clients_of_the_session(
    bcl: SandboxHandle, receiver: Receiver
) -> None:
    """IdP-initiated SAML logout ends the same browser session, so its OIDC clients hear."""
    with requests.Session() as http:
        tokens = _login(http, bcl, "bcl-app")
        answer = http.get(f"{bcl.issuer}/saml/logout", timeout=10)
    assert answer.status_code == 200
    _, token = receiver.take()
    assert _claims(token)[1]["sid"] == _claims(tokens["id_token"])[1]["sid"]


def test_backchannel_uri_from_a_config_file(tmp_path: Path) -> None:
    """A client in the sandbox config file may name its back-channel logout URI."""
    from rpkit.sandbox import SandboxConfig

    path = tmp_path / "sandbox.json"
    path.write_text(
        json.dumps(
            {
                "clients": [
                    {
                        "client_id": "cfg-app",
                        "client_secret": "cfg-secret",
                        "redirect_uris": ["http://127.0.0.1:7000/cb"],
                        "backchannel_logout_uri": "http://127.0.0.1:7000/bcl",
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    config = SandboxConfig.load(path)
    client = next(c for c in config.clients if c.client_id == "cfg-app")
    assert client.backchannel_logout_uri == "http://127.0.0.1:7000/bcl"
