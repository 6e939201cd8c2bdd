"""phoneNumbers on the SCIM User API: stored and returned on create, PUT, get and list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from rpkit.testing import SandboxHandle

from .helpers import scim_headers

EXT = "urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
USER_NAME = "phone.cadet@nordic-aurora.example"
PHONES = [
    {"value": "+47 900 00 001", "type": "mobile", "primary": True},
    {"value": "+47 22 00 00 00", "type": "work"},
]


def _user(**changes: Any) -> dict[str, Any]:
    start = datetime.now(UTC).date() + timedelta(days=2)
    body: dict[str, Any] = {
        "userName": USER_NAME,
        "name": {"familyName": "Hansen", "givenName": "Kari"},
        "active": True,
        "emails": [{"value": USER_NAME, "type": "work"}],
        "phoneNumbers": PHONES,
        "groups": [],
        EXT: {"shipImo": "9312456", "contractStartDate": start.isoformat(), "userFields": []},
    }
    body.update(changes)
    return body


@pytest.fixture
def scim(sandbox: SandboxHandle) -> tuple[str, dict[str, str]]:
    """The SCIM base URL and crew_import headers."""
    return sandbox.urls["scim_base"], scim_headers(sandbox.scim_token("crew_import"))


def test_phone_numbers_round_trip(scim: tuple[str, dict[str, str]]) -> None:
    """phoneNumbers sent on POST come back on the 201, on GET and in a filtered list."""
    base, headers = scim
    created = requests.post(base + "/Users", json=_user(), headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    assert created.json()["phoneNumbers"] == PHONES
    user_id = created.json()["id"]
    got = requests.get(f"{base}/Users/{user_id}", headers=headers, timeout=10).json()
    assert got["phoneNumbers"] == PHONES
    listed = requests.get(
        base + "/Users",
        params={"filter": f'userName eq "{USER_NAME}"'},
        headers=headers,
        timeout=10,
    ).json()
    assert listed["Resources"][0]["phoneNumbers"] == PHONES


def test_put_replaces_and_clears_phone_numbers(scim: tuple[str, dict[str, str]]) -> None:
    """PUT replaces phoneNumbers; a PUT without them clears them (PUT replaces the resource)."""
    base, headers = scim
    user_id = requests.post(base + "/Users", json=_user(), headers=headers, timeout=10).json()["id"]
    url = f"{base}/Users/{user_id}"
    current = requests.get(url, headers=headers, timeout=10).json()
    current["phoneNumbers"] = [{"value": "+47 911 11 111", "type": "mobile"}]
    replaced = requests.put(url, json=current, headers=headers, timeout=10)
    assert replaced.status_code == 200, replaced.text
    assert requests.get(url, headers=headers, timeout=10).json()["phoneNumbers"] == [
        {"value": "+47 911 11 111", "type": "mobile"}
    ]
    del current["phoneNumbers"]
    assert requests.put(url, json=current, headers=headers, timeout=10).status_code == 200
    assert requests.get(url, headers=headers, timeout=10).json()["phoneNumbers"] == []


def test_seed_users_have_an_empty_phone_list(scim: tuple[str, dict[str, str]]) -> None:
    """A user without phones returns an empty list, telling a client the API stores them."""
    base, headers = scim
    assert (
        requests.get(base + "/Users/87234", headers=headers, timeout=10).json()["phoneNumbers"]
        == []
    )


@pytest.mark.parametrize(
    "phones",
    [
        {"value": "+47 900 00 001"},
        ["+47 900 00 001"],
        [{"type": "mobile"}],
        [{"value": "  "}],
        [{"value": "+47 900 00 001", "primary": "yes"}],
        [{"value": "+47 900 00 001", "type": 7}],
        [{"value": "+1", "primary": True}, {"value": "+2", "primary": True}],
    ],
    ids=[
        "not_an_array",
        "not_objects",
        "no_value",
        "blank_value",
        "primary_not_bool",
        "type_not_string",
        "two_primaries",
    ],
)
def test_bad_phone_numbers_are_400(scim: tuple[str, dict[str, str]], phones: Any) -> None:
    """Malformed phoneNumbers are refused with Dualog's error body naming the attribute."""
    base, headers = scim
    answer = requests.post(
        base + "/Users", json=_user(phoneNumbers=phones), headers=headers, timeout=10
    )
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"type", "title", "status", "detail", "correlationId"}
    assert "phoneNumbers" in body["detail"]


def test_schema_declares_phone_numbers(sandbox: SandboxHandle) -> None:
    """The User schema served at /Schemas lists phoneNumbers with its sub-attributes."""
    answer = requests.get(f"{sandbox.urls['scim_base']}/Schemas/{USER_URN}", timeout=10)
    attributes = {a["name"]: a for a in answer.json()["attributes"]}
    phones = attributes["phoneNumbers"]
    assert phones["multiValued"] is True
    assert {s["name"] for s in phones["subAttributes"]} == {"value", "display", "type", "primary"}


def test_rpkit_scim_client_reads_phone_numbers(sandbox: SandboxHandle) -> None:
    """rpkit's own SCIM client sees the stored phones."""
    from rpkit.scim import ScimClient, ScimConfig
    from rpkit.testing import SCIM_CLIENT_ID, SCIM_CLIENT_SECRET

    base, headers = sandbox.urls["scim_base"], scim_headers(sandbox.scim_token())
    user_id = requests.post(base + "/Users", json=_user(), headers=headers, timeout=10).json()["id"]
    client = ScimClient(
        ScimConfig(
            base_url=base,
            token_url=sandbox.urls["token"],
            client_id=SCIM_CLIENT_ID,
            client_secret=SCIM_CLIENT_SECRET,
        )
    )
    phones = client.get_user(user_id).phone_numbers
    assert phones is not None
    assert [(p.value, p.type, p.primary) for p in phones] == [
        ("+47 900 00 001", "mobile", True),
        ("+47 22 00 00 00", "work", None),
    ]
