"""Dualog's User API (SCIM) over real HTTP, with its documented rules and error body."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxHandle

from .helpers import INGRID, authorize_params, pick_card, pkce_pair, query_of, scim_headers

EXT = "urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew"


def _user(**changes: Any) -> dict[str, Any]:
    start = datetime.now(UTC).date() + timedelta(days=2)
    body: dict[str, Any] = {
        "userName": "new.cadet@nordic-aurora.example",
        "externalId": "EXT-900",
        "name": {"familyName": "Hansen", "givenName": "Kari"},
        "displayName": "Kari Hansen",
        "active": True,
        "password": "Zaq!123Wsx",
        "emails": [{"value": "kari@example.com", "type": "home"}],
        "groups": [{"value": "6480"}],
        EXT: {
            "rank": "Deck Cadet",
            "department": "Deck",
            "shipImo": "9312456",
            "contractStartDate": start.isoformat(),
            "userFields": [{"key": "businessUnit", "value": "North"}],
        },
    }
    body.update(changes)
    return body


@pytest.fixture
def scim(sandbox: SandboxHandle) -> tuple[str, dict[str, str]]:
    """The SCIM base URL and crew_import headers."""
    return sandbox.urls["scim_base"], scim_headers(sandbox.scim_token("crew_import"))


def _assert_error(answer: requests.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"type", "title", "status", "detail", "correlationId"}
    assert body["status"] == status
    return body


def test_requires_a_bearer_token(sandbox: SandboxHandle) -> None:
    """No token or a bad token is a 401 with Dualog's error body."""
    base = sandbox.urls["scim_base"]
    _assert_error(requests.get(base + "/Users", timeout=10), 401)
    _assert_error(requests.get(base + "/Users", headers=scim_headers("nope"), timeout=10), 401)


def test_crew_read_can_read_but_not_write(sandbox: SandboxHandle) -> None:
    """crew_read lists users; a write is a 403."""
    base, headers = sandbox.urls["scim_base"], scim_headers(sandbox.scim_token("crew_read"))
    assert requests.get(base + "/Users", headers=headers, timeout=10).status_code == 200
    _assert_error(requests.post(base + "/Users", json=_user(), headers=headers, timeout=10), 403)
    _assert_error(requests.delete(base + "/Users/87234", headers=headers, timeout=10), 403)


def test_id_token_access_tokens_cannot_use_scim(sandbox: SandboxHandle) -> None:
    """A user's access token without crew scopes is refused."""
    token = sandbox.password_tokens(INGRID)["access_token"]
    _assert_error(
        requests.get(sandbox.urls["scim_base"] + "/Users", headers=scim_headers(token), timeout=10),
        403,
    )


def test_list_and_paginate(scim: tuple[str, dict[str, str]]) -> None:
    """startIndex/count page through a ListResponse."""
    base, headers = scim
    page = requests.get(
        base + "/Users", params={"startIndex": 3, "count": 2}, headers=headers, timeout=10
    ).json()
    assert page["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert page["totalResults"] == 8
    assert page["startIndex"] == 3 and page["itemsPerPage"] == 2
    assert [u["id"] for u in page["Resources"]] == ["87236", "87237"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (f'userName eq "{INGRID.upper()}"', ["87234"]),
        ('externalId eq "EMP-1005"', ["87238"]),
        ('meta.created gt "2000-01-01T00:00:00Z"', None),
        ('meta.lastModified lt "2000-01-01T00:00:00Z"', []),
        (f'contractEndDate lt "{datetime.now(UTC).date().isoformat()}"', ["87240"]),
        (f'contractStartDate gt "{datetime.now(UTC).date().isoformat()}"', ["87239"]),
        (f'{EXT}:contractStartDate gt "{datetime.now(UTC).date().isoformat()}"', ["87239"]),
        ('userName sw "ingrid" or externalId eq "EMP-1002"', ["87234", "87235"]),
    ],
    ids=["userName", "externalId", "created", "lastModified", "end", "start", "urn", "or"],
)
def test_filters(
    scim: tuple[str, dict[str, str]], expression: str, expected: list[str] | None
) -> None:
    """The documented filter attributes work; names are unqualified as Dualog documents."""
    base, headers = scim
    answer = requests.get(
        base + "/Users", params={"filter": expression}, headers=headers, timeout=10
    )
    assert answer.status_code == 200, answer.text
    ids = [u["id"] for u in answer.json()["Resources"]]
    assert ids == expected if expected is not None else len(ids) == 8


@pytest.mark.parametrize(
    "expression",
    ['displayName eq "x"', "userName eq", 'userName xx "a"', 'meta.created gt "yesterday"', "((("],
    ids=["unsupported_attr", "truncated", "bad_op", "bad_date", "parens"],
)
def test_bad_filters_are_400(scim: tuple[str, dict[str, str]], expression: str) -> None:
    """Unsupported or malformed filters are a 400, not a 500."""
    base, headers = scim
    _assert_error(
        requests.get(base + "/Users", params={"filter": expression}, headers=headers, timeout=10),
        400,
    )


def test_get_user_matches_documented_shape(scim: tuple[str, dict[str, str]]) -> None:
    """GET /Users/{id} has the fields of Dualog's example response."""
    base, headers = scim
    user = requests.get(base + "/Users/87234", headers=headers, timeout=10).json()
    assert user["userName"] == INGRID and user["externalId"] == "EMP-1001"
    assert user["meta"]["location"] == base + "/Users/87234"
    assert user["meta"]["resourceType"] == "User"
    assert user["groups"] == [{"value": "6480", "display": "Deck Officers"}]
    ext = user[EXT]
    assert ext["rank"] == "Master" and ext["shipImo"] == "9312456"
    assert ext["shipName"] == "MV Nordic Aurora"
    assert ext["forceChangePassword"] is False and ext["userFields"] == []
    assert "password" not in user
    _assert_error(requests.get(base + "/Users/1", headers=headers, timeout=10), 404)


def test_create_user_applies_defaults(scim: tuple[str, dict[str, str]]) -> None:
    """POST creates (201); end date defaults to start + 1 year; shipName comes from the IMO."""
    base, headers = scim
    answer = requests.post(base + "/Users", json=_user(), headers=headers, timeout=10)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    ext = created[EXT]
    start = date.fromisoformat(ext["contractStartDate"])
    assert ext["contractEndDate"] == start.replace(year=start.year + 1).isoformat()
    assert ext["shipName"] == "MV Nordic Aurora"
    assert answer.headers["Location"] == created["meta"]["location"]


_PAST = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"userName": "not-an-email"}, "userName"),
        ({"userName": "x@localhost"}, "userName"),
        ({"name": {"givenName": "Kari"}}, "familyName"),
        ({"active": None}, "active"),
        ({"emails": None}, "emails"),
        ({"groups": [{"value": "999999"}]}, "group"),
        ({"password": "short"}, "password policy"),
        (
            {EXT: {"shipImo": "9074720", "contractStartDate": "2999-01-01", "userFields": []}},
            "shipImo",
        ),
        ({EXT: {"shipImo": "9312456", "userFields": []}}, "contractStartDate"),
        ({EXT: {"shipImo": "9312456", "contractStartDate": _PAST, "userFields": []}}, "older"),
        (
            {
                EXT: {
                    "shipImo": "9312456",
                    "contractStartDate": "2999-05-01",
                    "contractEndDate": "2999-04-01",
                    "userFields": [],
                }
            },
            "before",
        ),
        (
            {EXT: {"shipImo": "9312456", "contractStartDate": "01/05/2999", "userFields": []}},
            "yyyy-MM-dd",
        ),
        ({EXT: {"rank": "AB"}}, "userFields"),
        ({EXT: None}, EXT),
    ],
    ids=[
        "not_email",
        "no_domain",
        "no_family_name",
        "no_active",
        "no_emails",
        "unknown_group",
        "weak_password",
        "unknown_ship",
        "start_missing",
        "start_past",
        "end_before_start",
        "date_format",
        "no_user_fields",
        "no_extension",
    ],
)
def test_create_validation(
    scim: tuple[str, dict[str, str]], change: dict[str, Any], detail: str
) -> None:
    """Each documented creation rule is enforced with a 400 naming the field."""
    base, headers = scim
    body = _user(**change)
    body = {k: v for k, v in body.items() if v is not None}
    error = _assert_error(
        requests.post(base + "/Users", json=body, headers=headers, timeout=10), 400
    )
    assert detail in error["detail"]


def test_duplicate_user_name_conflicts(scim: tuple[str, dict[str, str]]) -> None:
    """A taken userName is a 409."""
    base, headers = scim
    _assert_error(
        requests.post(base + "/Users", json=_user(userName=INGRID), headers=headers, timeout=10),
        409,
    )


def test_put_replaces_the_whole_resource(scim: tuple[str, dict[str, str]]) -> None:
    """PUT clears fields left out (externalId, groups, ship assignment)."""
    base, headers = scim
    created = requests.post(base + "/Users", json=_user(), headers=headers, timeout=10).json()
    body = _user(groups=[], emails=[])
    del body["externalId"]
    body[EXT] = {"rank": "Ordinary Seaman", "userFields": []}
    replaced = requests.put(f"{base}/Users/{created['id']}", json=body, headers=headers, timeout=10)
    assert replaced.status_code == 200, replaced.text
    user = replaced.json()
    assert "externalId" not in user and user["groups"] == []
    assert user[EXT] == {"rank": "Ordinary Seaman", "forceChangePassword": False, "userFields": []}
    assert user["meta"]["created"] == created["meta"]["created"]


def test_put_may_keep_a_past_start_date(scim: tuple[str, dict[str, str]]) -> None:
    """Crew mid-contract can be updated without moving their start date."""
    base, headers = scim
    user = requests.get(base + "/Users/87234", headers=headers, timeout=10).json()
    body = copy.deepcopy(user)
    body[EXT]["rank"] = "Captain"
    answer = requests.put(base + "/Users/87234", json=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()[EXT]["rank"] == "Captain"


def test_delete_user(scim: tuple[str, dict[str, str]]) -> None:
    """DELETE answers 204, then the user is 404."""
    base, headers = scim
    assert requests.delete(base + "/Users/87235", headers=headers, timeout=10).status_code == 204
    _assert_error(requests.get(base + "/Users/87235", headers=headers, timeout=10), 404)
    _assert_error(requests.delete(base + "/Users/87235", headers=headers, timeout=10), 404)


def test_groups_crud(scim: tuple[str, dict[str, str]]) -> None:
    """Groups: create with members, get, list, filter, replace, delete."""
    base, headers = scim
    created = requests.post(
        base + "/Groups",
        json={
            "displayName": "Bridge Team",
            "members": [{"value": "87234", "type": "User"}],
        },
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["members"][0]["value"] == "87234"
    found = requests.get(
        base + "/Groups",
        params={"filter": 'displayName eq "bridge team"'},
        headers=headers,
        timeout=10,
    ).json()
    assert [g["id"] for g in found["Resources"]] == [group["id"]]
    replaced = requests.put(
        f"{base}/Groups/{group['id']}", json={"displayName": "Bridge"}, headers=headers, timeout=10
    ).json()
    assert replaced["displayName"] == "Bridge" and replaced["members"] == []
    assert (
        requests.delete(f"{base}/Groups/{group['id']}", headers=headers, timeout=10).status_code
        == 204
    )
    _assert_error(requests.get(f"{base}/Groups/{group['id']}", headers=headers, timeout=10), 404)
    _assert_error(
        requests.post(base + "/Groups", json={"members": []}, headers=headers, timeout=10), 400
    )


def test_legacy_membership_route(sandbox: SandboxHandle, scim: tuple[str, dict[str, str]]) -> None:
    """PUT/DELETE on the legacy /api/v2 path add and remove one group."""
    base, headers = scim
    legacy = sandbox.urls["scim_legacy_base"]
    assert (
        requests.put(f"{legacy}/Users/87234/Groups/6483", headers=headers, timeout=10).status_code
        == 204
    )
    groups = requests.get(base + "/Users/87234", headers=headers, timeout=10).json()["groups"]
    assert {g["value"] for g in groups} == {"6480", "6483"}
    assert (
        requests.delete(
            f"{legacy}/Users/87234/Groups/6480", headers=headers, timeout=10
        ).status_code
        == 204
    )
    groups = requests.get(base + "/Users/87234", headers=headers, timeout=10).json()["groups"]
    assert [g["value"] for g in groups] == ["6483"]
    _assert_error(requests.put(f"{legacy}/Users/87234/Groups/1", headers=headers, timeout=10), 404)


def test_discovery_endpoints(sandbox: SandboxHandle) -> None:
    """ServiceProviderConfig, ResourceTypes, Schemas and the root list."""
    base = sandbox.urls["scim_base"]
    spc = requests.get(base + "/ServiceProviderConfig", timeout=10).json()
    assert spc["patch"]["supported"] is False and spc["filter"]["supported"] is True
    types = requests.get(base + "/ResourceTypes", timeout=10).json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    schema_ids = {s["id"] for s in requests.get(base + "/Schemas", timeout=10).json()["Resources"]}
    assert EXT in schema_ids
    assert requests.get(f"{base}/Schemas/{EXT}", timeout=10).json()["id"] == EXT
    assert len(requests.get(base, timeout=10).json()["endpoints"]) == 5


def test_bad_body_is_400(scim: tuple[str, dict[str, str]]) -> None:
    """Non-JSON and non-object bodies are refused cleanly."""
    base, headers = scim
    _assert_error(requests.post(base + "/Users", data="{", headers=headers, timeout=10), 400)
    _assert_error(requests.post(base + "/Users", json=[1], headers=headers, timeout=10), 400)


def test_scim_change_is_visible_at_login(
    sandbox: SandboxHandle, scim: tuple[str, dict[str, str]]
) -> None:
    """Seed -> SCIM PUT -> the next login's ID token carries the new rank and ship."""
    base, headers = scim
    user = requests.get(base + "/Users/87234", headers=headers, timeout=10).json()
    user[EXT].update(
        rank="Staff Captain",
        shipImo="9487122",
        contractStartDate=datetime.now(UTC).date().isoformat(),
    )
    user[EXT].pop("contractEndDate")
    assert (
        requests.put(base + "/Users/87234", json=user, headers=headers, timeout=10).status_code
        == 200
    )
    verifier, challenge = pkce_pair()
    params = authorize_params(challenge)
    with requests.Session() as http:
        answer = pick_card(http, sandbox, params, INGRID)
    code = query_of(answer.headers["Location"])["code"]
    tokens = requests.post(
        sandbox.urls["token"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        timeout=10,
    ).json()
    info = requests.get(
        sandbox.urls["userinfo"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    ).json()
    assert info["rank"] == "Staff Captain"
    assert info["ship_name"] == "MT Polar Voyager" and info["ship_imo"] == "9487122"


def test_scim_deactivation_refuses_login(
    sandbox: SandboxHandle, scim: tuple[str, dict[str, str]]
) -> None:
    """A user created over SCIM signs in with the default password; deactivated, is refused."""
    base, headers = scim
    body = _user()
    del body["password"]
    created = requests.post(base + "/Users", json=body, headers=headers, timeout=10).json()
    # Dualog: the default password is the email address.
    tokens = sandbox.password_tokens(body["userName"], password=body["userName"])
    assert tokens["access_token"]
    body["active"] = False
    requests.put(f"{base}/Users/{created['id']}", json=body, headers=headers, timeout=10)
    _, challenge = pkce_pair()
    with requests.Session() as http:
        refused = pick_card(http, sandbox, authorize_params(challenge), body["userName"])
    assert refused.status_code == 403 and "inactive" in refused.text
