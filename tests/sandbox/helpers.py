"""Shared helpers for the sandbox tests."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from rpkit.testing import DEMO_CLIENT_ID, SandboxHandle

DEMO_REDIRECT_URI = "http://127.0.0.1:5000/auth/oidc/callback"
INGRID = "ingrid.larsen@nordic-aurora.example"  # Master, current contract
TOMAS = "tomas.berg@nordic-aurora.example"  # Chief Officer, current contract
PIOTR = "piotr.kowalski@skagerrak-star.example"  # contract ended
LENA = "lena.holm@polar-voyager.example"  # inactive
ANA = "ana.reyes@skagerrak-star.example"  # contract starts in the future


def pkce_pair() -> tuple[str, str]:
    """A PKCE (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(challenge: str, **extra: str) -> dict[str, str]:
    """Authorization request parameters for the demo client."""
    params = {
        "response_type": "code",
        "client_id": DEMO_CLIENT_ID,
        "redirect_uri": DEMO_REDIRECT_URI,
        "scope": "openid profile email crew.public",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return params


def pick_card(
    http: requests.Session, sandbox: SandboxHandle, params: dict[str, str], user_name: str
) -> requests.Response:
    """Open the login page and click ``user_name``'s crew card; return the raw answer."""
    page = http.get(sandbox.urls["authorize"], params=params, timeout=10)
    assert page.status_code == 200
    assert f'data-testid="crew-card-{user_name}"' in page.text
    return http.post(page.url, data={"card": user_name}, allow_redirects=False, timeout=10)


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect location, single-valued."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of an auto-posting form."""
    return {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input type=hidden name="([^"]*)" value="([^"]*)">', html)
    }


def form_action(html: str) -> str:
    """The action URL of the first form."""
    match = re.search(r'<form method=post action="([^"]*)"', html)
    assert match is not None
    return unescape(match.group(1))


def scim_headers(token: str) -> dict[str, Any]:
    """Authorization and content type for SCIM calls."""
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
