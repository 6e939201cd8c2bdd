"""Interop with an OP none of us wrote: panva's certified ``oidc-provider`` (npm).

The provider runs on loopback (``tests/oidc/op_node/server.mjs``), configured like a Dualog
client would see it: a ``rank`` claim under ``crew.public``, PKCE required, refresh tokens
for ``offline_access``, RP-initiated logout. Its interaction logs in a fixed account without
a browser, so the test plays the browser by following redirects.
"""

from __future__ import annotations

import html
import json
import os
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, parse_qsl, urljoin, urlsplit

import pytest
import requests

from rpkit.config import OidcConfig
from rpkit.oidc import LoginResult, OidcClient, validate_logout_return

from .conftest import BROWSER

OP_DIR = Path(__file__).parent / "op_node"
CLIENT_ID = "rpkit-interop"
CLIENT_SECRET = "rpkit-interop-secret-0123456789abcdef"
# Never contacted: the test stops at the redirect to it and reads the query.
REDIRECT_URI = "http://127.0.0.1:5999/callback"
POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:5999/logged-out"
START_TIMEOUT = 15.0
HTTP_TIMEOUT = 5.0


@dataclass(frozen=True)
class PanvaOP:
    issuer: str


def _node_or_fail() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; run scripts/bootstrap", pytrace=False)
    if not (OP_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(
            f"{OP_DIR / 'node_modules'} has no oidc-provider; run scripts/bootstrap "
            "(it runs `npm ci` there)",
            pytrace=False,
        )
    return node


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.fixture(scope="module")
def panva_op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanvaOP]:
    """Start ``node server.mjs 0`` and wait for its ready line; stop it afterwards."""
    node = _node_or_fail()
    stderr_path = tmp_path_factory.mktemp("panva_op") / "stderr.txt"
    env = {
        **os.environ,
        "OP_CLIENT_ID": CLIENT_ID,
        "OP_CLIENT_SECRET": CLIENT_SECRET,
        "OP_REDIRECT_URI": REDIRECT_URI,
        "OP_POST_LOGOUT_REDIRECT_URI": POST_LOGOUT_REDIRECT_URI,
    }
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [node, "server.mjs", "0"],
            cwd=OP_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    pump = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    pump.start()
    try:
        try:
            line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            line = None
        if not line:
            proc.kill()
            proc.wait(timeout=5)
            pytest.fail(
                f"oidc-provider did not start (exit {proc.returncode}); stderr:\n"
                + stderr_path.read_text()[-2000:],
                pytrace=False,
            )
        yield PanvaOP(issuer=json.loads(line)["issuer"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        pump.join(timeout=5)  # EOF once node has exited
        if not pump.is_alive():
            proc.stdout.close()


def make_client(op: PanvaOP) -> OidcClient:
    return OidcClient(
        OidcConfig(
            issuer=op.issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uri=REDIRECT_URI,
            post_logout_redirect_uri=POST_LOGOUT_REDIRECT_URI,
            refresh_tokens=True,
        )
    )


def play_browser(url: str, *, stop_at: str, max_hops: int = 10) -> dict[str, str]:
    """Follow redirects with a cookie jar until one points at ``stop_at``; return its query."""
    with requests.Session() as browser:
        for _ in range(max_hops):
            response = browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
            assert response.is_redirect, (response.status_code, response.text[:500])
            url = urljoin(url, response.headers["Location"])
            if url.startswith(stop_at):
                return dict(parse_qsl(urlsplit(url).query))
    raise AssertionError(f"no redirect to {stop_at} after {max_hops} hops")


def login(client: OidcClient) -> LoginResult:
    url = client.start_login(browser_token=BROWSER).url
    return client.finish_login(play_browser(url, stop_at=REDIRECT_URI), browser_token=BROWSER)


def test_code_pkce_login_yields_validated_id_token_with_rank(panva_op: PanvaOP) -> None:
    """A code+PKCE login against oidc-provider yields a validated ID token carrying rank."""
    client = make_client(panva_op)
    started = client.start_login(browser_token=BROWSER)
    url, state = started.url, started.login
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert "offline_access" in query["scope"][0].split()

    params = play_browser(url, stop_at=REDIRECT_URI)
    # RFC 9207: oidc-provider sends iss, which rpkit checks against the configured issuer.
    assert params["iss"] == panva_op.issuer
    assert params["state"] == state.state
    result = client.finish_login(params, browser_token=BROWSER)

    claims = result.id_token.claims
    assert claims["iss"] == panva_op.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["nonce"] == state.nonce
    assert result.id_token.header["alg"] == "RS256"
    assert result.identity.key == (panva_op.issuer, "crew-1")
    assert result.identity.rank == "Master"
    assert result.identity.email == "ingrid.hansen@nordic-tankers.example"
    assert result.identity.name == "Ingrid Hansen"
    assert result.tokens.refresh_token, "offline_access should yield a refresh token"


def test_userinfo_subject_matches_id_token(panva_op: PanvaOP) -> None:
    """Userinfo is fetched with the access token and its sub matches the ID token's."""
    client = make_client(panva_op)
    result = login(client)

    info = client.userinfo(result.tokens.access_token, subject=result.id_token.subject)

    assert info["sub"] == "crew-1"
    assert info["rank"] == "Master"
    assert info["email"] == "ingrid.hansen@nordic-tankers.example"


def test_refresh_revalidates_new_id_token(panva_op: PanvaOP) -> None:
    """A refresh returns a new ID token that rpkit re-validates with the same iss and sub."""
    client = make_client(panva_op)
    result = login(client)
    assert result.tokens.refresh_token is not None

    refreshed = client.refresh(result.tokens.refresh_token, previous=result.id_token)

    # The refresh response carried an ID token and rpkit validated it (it is not the old
    # object). Its bytes may equal the login's: same claims, same second, deterministic RS256.
    assert refreshed.tokens.id_token is not None
    assert refreshed.id_token is not result.id_token
    assert refreshed.id_token.raw == refreshed.tokens.id_token
    assert refreshed.id_token.claims["iss"] == panva_op.issuer
    assert refreshed.id_token.subject == result.id_token.subject
    assert refreshed.identity.rank == "Master"
    assert refreshed.tokens.access_token != result.tokens.access_token


def test_end_session_url_is_accepted_by_provider(panva_op: PanvaOP) -> None:
    """The RP-initiated logout URL is accepted and the provider returns to us with our state."""
    client = make_client(panva_op)
    result = login(client)

    url = client.end_session_url(id_token_hint=result.id_token.raw, state="bye-1")

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{panva_op.issuer}/session/end"
    assert dict(parse_qsl(parts.query)) == {
        "client_id": CLIENT_ID,
        "id_token_hint": result.id_token.raw,
        "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
        "state": "bye-1",
    }
    with requests.Session() as browser:
        # oidc-provider checks the hint and the redirect URI, then answers with its
        # logout form (a rejected parameter would be a 400 error page).
        page = browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert page.status_code == 200, page.text[:500]
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action is not None, page.text[:500]
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        assert fields.get("logout") == "yes"
        confirmed = browser.post(
            html.unescape(action.group(1)), data=fields, allow_redirects=False, timeout=HTTP_TIMEOUT
        )
    assert confirmed.is_redirect, (confirmed.status_code, confirmed.text[:500])
    back = urlsplit(confirmed.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == POST_LOGOUT_REDIRECT_URI
    returned = dict(parse_qsl(back.query))
    assert returned == {"state": "bye-1"}
    validate_logout_return(returned, expected_state="bye-1")
