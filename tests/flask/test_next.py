"""``next`` is accepted only as a path on this site; open redirects are refused."""

from __future__ import annotations

import pytest
import requests

from rpkit.errors import ValidationError
from rpkit.flask import safe_next

from .conftest import Stack, session_cookies

OPEN_REDIRECTS = {
    "absolute_https": "https://evil.example/",
    "absolute_http": "http://evil.example",
    "protocol_relative": "//evil.example/x",
    "backslash": "/\\evil.example",
    "backslash_only": "\\\\evil.example",
    "javascript": "javascript:alert(1)",
    "data": "data:text/html,hi",
    "no_leading_slash": "evil.example",
    "encoded_slashes": "/%2F%2Fevil.example",
    "encoded_backslash": "/%5Cevil.example",
    "double_encoded": "/%252F%252Fevil.example",
    "tab_in_scheme": "/\t/evil.example",
    "newline": "/x\r\nLocation: https://evil.example",
    "userinfo_like": "//user@evil.example",
    "triple_slash": "///evil.example",
}

SAFE = ["/", "/profile", "/bridge?tab=radar", "/a/b#frag", "/caf%C3%A9"]


@pytest.mark.parametrize("value", OPEN_REDIRECTS.values(), ids=OPEN_REDIRECTS.keys())
def test_safe_next_refuses(value: str) -> None:
    """Anything that could leave the site is refused."""
    with pytest.raises(ValidationError):
        safe_next(value)


@pytest.mark.parametrize("value", SAFE)
def test_safe_next_accepts_paths(value: str) -> None:
    """Plain paths on this site pass unchanged."""
    assert safe_next(value) == value


@pytest.mark.parametrize("protocol", ["oidc", "saml"])
@pytest.mark.parametrize("value", OPEN_REDIRECTS.values(), ids=OPEN_REDIRECTS.keys())
def test_login_refuses_open_redirect(
    stack: Stack, http: requests.Session, protocol: str, value: str
) -> None:
    """A login with a hostile next answers 400 before reaching the IdP; no session."""
    answer = http.get(
        f"{stack.base_url}/auth/login/{protocol}", params={"next": value}, allow_redirects=False
    )
    assert answer.status_code == 400
    assert "correlation" in answer.text.lower()
    assert not session_cookies(answer)
    assert "Location" not in answer.headers
