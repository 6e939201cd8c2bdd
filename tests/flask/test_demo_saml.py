"""The demo as a user runs it: the sample app with its embedded sandbox, SAML end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from .helpers import JONAS, ROOT, free_port, saml_login
from .processes import wait_until


def test_embedded_sandbox_saml_login(tmp_path: Path) -> None:
    """The embedded sandbox checks the app's signed AuthnRequest (certificate read from the
    app's metadata) and answers RSK-shaped; /me has the crew member with rank and ship."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPKIT_")} | {
        "RPKIT_SANDBOX_PORT": "0",
        "RPKIT_SANDBOX_DATA_DIR": str(tmp_path / "sandbox"),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "example_app", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return requests.get(f"{base}/me", timeout=2).status_code == 401
            except requests.ConnectionError:
                return False

        wait_until(ready, what="example_app")
        with requests.Session() as http:
            answer = saml_login(http, base, JONAS)
            assert answer.status_code == 303, answer.text[:300]
            me = http.get(f"{base}/me").json()
        assert me["protocol"] == "saml" and me["email"] == JONAS
        assert (me["rank"], me["ship_name"]) == ("AB", "MT Polar Voyager")
        assert "@" not in me["subject"]  # unspecified NameID: the opaque user id
    finally:
        process.terminate()
        process.wait(10)
