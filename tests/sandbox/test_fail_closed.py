"""Hostile or malformed input gets a clear 4xx from every endpoint, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from rpkit.testing import SandboxHandle

from .helpers import scim_headers

EXT = "urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew"

# (id, method, url name, path suffix, kwargs); "scim" adds a crew_import token.
CASES: list[tuple[str, str, str, str, dict[str, Any]]] = [
    ("authorize_no_params", "GET", "authorize", "", {}),
    ("authorize_unknown_client", "GET", "authorize", "?response_type=code&client_id=x", {}),
    (
        "authorize_bad_response_mode",
        "GET",
        "authorize",
        "?response_type=code&client_id=rpkit-demo&response_mode=fragment",
        {},
    ),
    (
        "authorize_token_response_type",
        "GET",
        "authorize",
        "?response_type=token&client_id=rpkit-demo",
        {},
    ),
    (
        # Authlib refuses to echo control characters in an error description.
        "authorize_response_type_with_control_chars",
        "POST",
        "authorize",
        "",
        {"data": {"response_type": "code\x0bx\t", "client_id": "rpkit-demo"}},
    ),
    ("token_no_grant", "POST", "token", "", {}),
    ("token_unknown_grant", "POST", "token", "", {"data": {"grant_type": "magic"}}),
    (
        "token_bad_code",
        "POST",
        "token",
        "",
        {
            "data": {"grant_type": "authorization_code", "code": "x"},
            "auth": ("rpkit-demo", "rpkit-demo-secret"),
        },
    ),
    (
        "token_bad_refresh",
        "POST",
        "token",
        "",
        {
            "data": {"grant_type": "refresh_token", "refresh_token": "x"},
            "auth": ("rpkit-demo", "rpkit-demo-secret"),
        },
    ),
    ("token_json_body", "POST", "token", "", {"json": {"grant_type": "client_credentials"}}),
    ("userinfo_garbage_token", "POST", "userinfo", "", {"headers": {"Authorization": "Bearer ."}}),
    ("endsession_garbage_hint", "GET", "endsession", "?id_token_hint=a.b.c", {}),
    ("saml_sso_empty", "GET", "saml_sso", "", {}),
    ("saml_sso_post_empty", "POST", "saml_sso", "", {"data": {"SAMLRequest": ""}}),
    ("saml_slo_garbage", "POST", "saml_slo", "", {"data": {"SAMLRequest": "!!!"}}),
    ("saml_login_no_pending", "POST", "issuer", "/saml/sso/login", {"data": {"pending": "x"}}),
    ("scim_bad_start_index", "GET", "scim", "/Users?startIndex=abc", {}),
    (
        "scim_name_not_strings",
        "POST",
        "scim",
        "/Users",
        {
            "json": {
                "userName": "a@b.example",
                "name": {"givenName": 5, "familyName": []},
                "active": True,
                "emails": [],
                "groups": [],
                EXT: {"userFields": []},
            }
        },
    ),
    (
        "scim_groups_not_list",
        "POST",
        "scim",
        "/Users",
        {
            "json": {
                "userName": "a@b.example",
                "name": {"givenName": "A", "familyName": "B"},
                "active": True,
                "emails": [],
                "groups": "6480",
                EXT: {"userFields": []},
            }
        },
    ),
    ("scim_wrong_content_type", "POST", "scim", "/Users", {"data": "x=1", "headers_extra": "form"}),
    (
        "scim_group_members_not_list",
        "POST",
        "scim",
        "/Groups",
        {"json": {"displayName": "X", "members": "87234"}},
    ),
    ("scim_group_duplicate", "POST", "scim", "/Groups", {"json": {"displayName": "Catering"}}),
    ("scim_patch", "PATCH", "scim", "/Users/87234", {"json": {}}),
    ("scim_unknown_schema", "GET", "scim", "/Schemas/urn:nope", {}),
    ("scim_group_filter", "GET", "scim", "/Groups?filter=id%20eq%20%221%22", {}),
    ("scim_huge_filter", "GET", "scim", "/Users?filter=" + "a" * 1200, {}),
]


@pytest.mark.parametrize(
    ("method", "name", "suffix", "kwargs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_4xx(
    sandbox: SandboxHandle, method: str, name: str, suffix: str, kwargs: dict[str, Any]
) -> None:
    """The sandbox answers 4xx to malformed requests."""
    kwargs = dict(kwargs)
    url = (sandbox.urls["scim_base"] if name == "scim" else sandbox.urls[name]) + suffix
    if name == "scim":
        headers = scim_headers(sandbox.scim_token())
        if kwargs.pop("headers_extra", None) == "form":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        kwargs["headers"] = headers
    answer = requests.request(method, url, allow_redirects=False, timeout=10, **kwargs)
    assert 400 <= answer.status_code < 500 or (
        answer.status_code == 302 and "error=" in answer.headers["Location"]
    ), (answer.status_code, answer.text[:300])
