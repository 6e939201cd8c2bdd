"""``rpkit sandbox --client ... --redirect-uri ... --sp ...``: the sandbox for your own app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from rpkit.cli import _sandbox_config, build_parser
from rpkit.errors import ConfigurationError
from rpkit.sandbox.server import render_banner
from rpkit.testing import sandbox_server


def _config(tmp_path: Path, *argv: str) -> Any:
    args = build_parser().parse_args(["sandbox", "--data-dir", str(tmp_path), *argv])
    return _sandbox_config(args)


def test_clients_take_the_uris_that_follow_them(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "--client",
        "one:s1",
        "--redirect-uri",
        "http://127.0.0.1:5081/cb",
        "--client",
        "two:",
        "--redirect-uri",
        "http://127.0.0.1:5082/a",
        "--redirect-uri",
        "http://127.0.0.1:5082/b",
        "--post-logout-uri",
        "http://127.0.0.1:5082/bye",
    )
    clients = {c.client_id: c for c in config.clients}
    assert clients["one"].redirect_uris == ("http://127.0.0.1:5081/cb",)
    assert clients["one"].post_logout_redirect_uris == ("http://127.0.0.1:5081/",)
    assert clients["two"].redirect_uris == ("http://127.0.0.1:5082/a", "http://127.0.0.1:5082/b")
    assert clients["two"].post_logout_redirect_uris == ("http://127.0.0.1:5082/bye",)
    assert clients["two"].token_endpoint_auth_methods == ("none",)  # public: PKCE only
    assert "rpkit-demo" in clients  # the demo client stays
    assert config.env_client_id == "one"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--redirect-uri", "http://127.0.0.1:5081/cb"), 'must follow a "--client'),
        (("--client", "no-secret-separator"), "must be ID:SECRET"),
        (("--client", "app:s"), 'needs at least one "--redirect-uri"'),
    ],
)
def test_bad_registrations_are_refused(tmp_path: Path, argv: tuple[str, ...], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        _config(tmp_path, *argv)


def test_config_errors_point_at_the_entry(tmp_path: Path) -> None:
    file = tmp_path / "sandbox.json"
    file.write_text('{"clients": [{"client_id": "a", "client_secret": "s", "redirect_uris": "x"}]}')
    with pytest.raises(ConfigurationError, match=r"sandbox.json: clients\[0\]: \"redirect_uris\""):
        _config(tmp_path, "--config", str(file))


def test_banner_shows_the_app_client_and_every_other(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "--client", "my-app:secret", "--redirect-uri", "http://127.0.0.1:5081/cb"
    )
    clients = config.clients
    with sandbox_server(tmp_path / "run", clients=clients, env_client_id="my-app") as sandbox:
        banner = render_banner(sandbox.state)
        # The unregistered redirect URI's page says how to register it.
        page = requests.get(
            f"{sandbox.issuer}/connect/authorize",
            params={
                "client_id": "my-app",
                "redirect_uri": "http://127.0.0.1:9/elsewhere",
                "response_type": "code",
                "scope": "openid",
                "code_challenge": "x" * 43,
                "code_challenge_method": "S256",
            },
            timeout=5,
        )
    assert "RPKIT_OIDC_CLIENT_ID=my-app\n" in banner
    assert "RPKIT_OIDC_CLIENT_SECRET=secret\n" in banner
    assert "RPKIT_SCIM_CLIENT_ID=rpkit-scim-readonly" in banner  # the read-only SCIM client
    assert "RPKIT_SCIM_SCOPE=crew_read" in banner
    assert "RPKIT_OIDC_CLIENT_ID=rpkit-demo" in banner
    assert page.status_code == 400
    assert "--redirect-uri" in page.text and "text/html" in page.headers["Content-Type"]
