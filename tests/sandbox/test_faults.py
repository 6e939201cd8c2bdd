"""Injected faults as integrators meet them: error bodies, late writes, garbled 204s, counts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from rpkit.testing import SandboxHandle

from .helpers import scim_headers

EXT = "urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew"
INGRID_ID = "87234"
DUALOG_ERROR_FIELDS = {"type", "title", "status", "detail", "correlationId"}


def _new_user(user_name: str = "late.write@nordic-aurora.example") -> dict[str, Any]:
    start = datetime.now(UTC).date() + timedelta(days=2)
    return {
        "userName": user_name,
        "name": {"familyName": "Hansen", "givenName": "Kari"},
        "active": True,
        "emails": [{"value": user_name, "type": "work"}],
        "groups": [],
        EXT: {"shipImo": "9312456", "contractStartDate": start.isoformat(), "userFields": []},
    }


@pytest.fixture
def scim(sandbox: SandboxHandle) -> tuple[str, dict[str, str]]:
    """The SCIM base URL and crew_import headers (the token is fetched before any fault)."""
    return sandbox.urls["scim_base"], scim_headers(sandbox.scim_token("crew_import"))


def _exists(base: str, headers: dict[str, str], user_name: str) -> bool:
    answer = requests.get(
        base + "/Users",
        params={"filter": f'userName eq "{user_name}"'},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["totalResults"] == 1)


# -- rate_limit ------------------------------------------------------------------------------


def test_rate_limit_on_scim_uses_dualog_error_body(
    sandbox: SandboxHandle, scim: tuple[str, dict[str, str]]
) -> None:
    """On a SCIM endpoint a rate_limit fault answers 429, Retry-After and Dualog's error body."""
    base, headers = scim
    sandbox.set_fault("scim_users", "rate_limit", retry_after=5, times=1)
    answer = requests.get(base + "/Users", headers=headers, timeout=10)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "5"
    body = answer.json()
    assert set(body) == DUALOG_ERROR_FIELDS and body["status"] == 429
    assert answer.headers["Content-Type"].startswith("application/scim+json")


def test_rate_limit_on_oauth_endpoint_keeps_oauth_body(sandbox: SandboxHandle) -> None:
    """On the token endpoint a rate_limit fault keeps the OAuth-style error object."""
    sandbox.set_fault("token", "rate_limit", retry_after=9, times=1)
    answer = requests.post(
        sandbox.urls["token"], data={"grant_type": "client_credentials"}, timeout=10
    )
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "9"
    assert answer.json()["error"] == "rate_limited"


# -- latency ---------------------------------------------------------------------------------


def test_latency_after_commits_the_write_before_the_client_times_out(
    sandbox: SandboxHandle, scim: tuple[str, dict[str, str]]
) -> None:
    """With when=after the POST is handled at once; only its answer is late."""
    base, headers = scim
    sandbox.set_fault("scim_users", "latency", delay=5, when="after", times=1)
    with pytest.raises(requests.Timeout):
        requests.post(base + "/Users", json=_new_user(), headers=headers, timeout=0.3)
    assert _exists(base, headers, "late.write@nordic-aurora.example")
    assert sandbox.admin("GET", "faults") == {}


def test_latency_before_is_the_default_and_holds_the_write(
    sandbox: SandboxHandle, scim: tuple[str, dict[str, str]]
) -> None:
    """Without when, latency waits before handling: the write has not landed at the timeout."""
    base, headers = scim
    sandbox.set_fault("scim_users", "latency", delay=5, times=1)
    assert sandbox.admin("GET", "faults")["scim_users"]["when"] == "before"
    with pytest.raises(requests.Timeout):
        requests.post(base + "/Users", json=_new_user(), headers=headers, timeout=0.3)
    assert not _exists(base, headers, "late.write@nordic-aurora.example")


@pytest.mark.parametrize("when", ["before", "after"])
def test_reset_cuts_delays_short_and_waits_for_requests_in_flight(
    sandbox: SandboxHandle, scim: tuple[str, dict[str, str]], when: str
) -> None:
    """A reset ends injected delays and returns only when no request is in flight, so a
    delayed write never lands in the restored seed."""
    base, headers = scim
    sandbox.set_fault("scim_users", "latency", delay=30, when=when, times=1)
    with pytest.raises(requests.Timeout):
        requests.post(base + "/Users", json=_new_user(), headers=headers, timeout=0.3)
    started = time.monotonic()
    sandbox.reset()
    assert time.monotonic() - started < 10
    assert sandbox.state.controls.in_flight() == 0
    assert sandbox.state.store.find_user("late.write@nordic-aurora.example") is None


def test_when_after_is_for_latency_only(sandbox: SandboxHandle) -> None:
    """when=after on another fault kind, or an unknown when, is a 400."""
    url = f"{sandbox.base_url}/_sandbox/faults/scim_users"
    auth = {"Authorization": f"Bearer {sandbox.admin_token}"}
    for body in ({"kind": "error", "when": "after"}, {"kind": "latency", "when": "later"}):
        answer = requests.put(url, json=body, headers=auth, timeout=10)
        assert answer.status_code == 400 and "when" in answer.json()["detail"]


# -- malformed -------------------------------------------------------------------------------


def test_malformed_delete_is_a_garbled_200(
    sandbox: SandboxHandle, scim: tuple[str, dict[str, str]]
) -> None:
    """A malformed fault on a 204 answers 200 with a body that is not valid JSON."""
    base, headers = scim
    sandbox.set_fault("scim_users", "malformed", times=1)
    answer = requests.delete(f"{base}/Users/{INGRID_ID}", headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.content
    with pytest.raises(ValueError):
        answer.json()
    assert sandbox.state.store.get_user(INGRID_ID) is None  # handled; only the answer is bad


def test_malformed_membership_route_is_a_garbled_200(
    sandbox: SandboxHandle, scim: tuple[str, dict[str, str]]
) -> None:
    """The legacy membership route's 204 is garbled the same way."""
    _, headers = scim
    url = f"{sandbox.urls['scim_legacy_base']}/Users/{INGRID_ID}/Groups/6480"
    sandbox.set_fault("scim_membership", "malformed", times=1)
    answer = requests.put(url, headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.content
    with pytest.raises(ValueError):
        answer.json()
    assert requests.put(url, headers=headers, timeout=10).status_code == 204


# -- request counts ----------------------------------------------------------------------------


def test_request_counts_by_method(sandbox: SandboxHandle, scim: tuple[str, dict[str, str]]) -> None:
    """?by=method splits the counts per HTTP method; the plain shape is unchanged."""
    base, headers = scim
    requests.get(base + "/Users", headers=headers, timeout=10)
    requests.get(f"{base}/Users/{INGRID_ID}", headers=headers, timeout=10)
    requests.post(base + "/Users", json=_new_user(), headers=headers, timeout=10)
    requests.delete(f"{base}/Users/{INGRID_ID}", headers=headers, timeout=10)
    assert sandbox.request_counts() == {"token": 1, "scim_users": 4}
    assert sandbox.request_counts(by_method=True) == {
        "token": {"POST": 1},
        "scim_users": {"GET": 2, "POST": 1, "DELETE": 1},
    }
    sandbox.reset_counts()
    assert sandbox.request_counts(by_method=True) == {}


def test_request_counts_by_unknown_is_400(sandbox: SandboxHandle) -> None:
    """Only by=method and by=status are understood."""
    answer = requests.get(
        f"{sandbox.base_url}/_sandbox/requests",
        params={"by": "path"},
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
        timeout=10,
    )
    assert answer.status_code == 400 and "by" in answer.json()["detail"]
