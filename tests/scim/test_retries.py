"""Faults from the sandbox and a misbehaving stub: retries, Retry-After, POST safety, paging."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rpkit.errors import ProviderResponseError, ProviderUnavailableError
from rpkit.scim import Filter, ScimClient, ScimConfig
from rpkit.testing import SandboxHandle

from .conftest import MakeClient
from .helpers import INGRID_ID, SEED_USERS, Sleeps, new_user
from .stub import StubPlan, stub_server


def _count_users(client: ScimClient, user_name: str) -> int:
    return len(list(client.list_users(filter=Filter.eq("userName", user_name))))


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_reads_retry_5xx(
    sandbox: SandboxHandle, client: ScimClient, sleeps: Sleeps, status: int
) -> None:
    """Two 5xx answers in a row are retried with backoff, and the read succeeds."""
    sandbox.set_fault("scim_users", "error", status=status, times=2)
    assert len(list(client.list_users())) == SEED_USERS
    assert len(sleeps) == 2 and all(s > 0 for s in sleeps)


def test_retry_after_is_honoured(
    sandbox: SandboxHandle, client: ScimClient, sleeps: Sleeps
) -> None:
    """A 429 waits exactly the server's Retry-After before the retry."""
    sandbox.set_fault("scim_users", "rate_limit", retry_after=7, times=1)
    assert client.get_user(INGRID_ID).id == INGRID_ID
    assert sleeps == [7.0]


def test_retry_after_too_long_gives_up(
    sandbox: SandboxHandle, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A Retry-After beyond max_retry_after raises instead of sleeping for it."""
    sandbox.set_fault("scim_users", "rate_limit", retry_after=3600, times=1)
    with pytest.raises(ProviderUnavailableError) as caught:
        make_client().get_user(INGRID_ID)
    assert caught.value.status == 429 and caught.value.retry_after == 3600
    assert sleeps == []


def test_retries_are_bounded(
    sandbox: SandboxHandle, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A persistent 503 raises after max_retries retries, with the correlation id."""
    sandbox.set_fault("scim_users", "error", status=503)
    sandbox.reset_counts()
    with pytest.raises(ProviderUnavailableError) as caught:
        make_client(max_retries=3).get_user(INGRID_ID)
    assert caught.value.status == 503
    assert len(sleeps) == 3
    assert sandbox.request_counts()["scim_users"] == 4


def test_timeout_is_retried(sandbox: SandboxHandle, make_client: MakeClient) -> None:
    """A read that times out is asked again."""
    sandbox.set_fault("scim_users", "latency", delay=1.0, times=1)
    client = make_client(timeout=0.3)
    assert client.get_user(INGRID_ID).id == INGRID_ID


def test_malformed_read_is_retried(sandbox: SandboxHandle, client: ScimClient) -> None:
    """A truncated success body of a read is treated like a transient failure."""
    sandbox.set_fault("scim_users", "malformed", times=1)
    assert len(list(client.list_users())) == SEED_USERS


def test_token_endpoint_5xx_is_retried(sandbox: SandboxHandle, client: ScimClient) -> None:
    """A token endpoint outage is retried like any other idempotent call."""
    sandbox.set_fault("token", "error", status=503, times=1)
    assert client.get_user(INGRID_ID).id == INGRID_ID


def test_put_and_delete_retry(sandbox: SandboxHandle, client: ScimClient, sleeps: Sleeps) -> None:
    """PUT and DELETE are idempotent and retried after a 5xx."""
    sandbox.set_fault("scim_users", "error", status=502, times=1)
    updated = client.update_user(INGRID_ID, lambda u: replace(u, display_name="Captain Larsen"))
    assert updated.display_name == "Captain Larsen"
    sandbox.set_fault("scim_users", "error", status=503, times=1)
    client.delete_user(INGRID_ID)
    with pytest.raises(ProviderResponseError):
        client.get_user(INGRID_ID)


def test_post_after_5xx_looks_up_then_resends(
    sandbox: SandboxHandle, client: ScimClient, sleeps: Sleeps
) -> None:
    """A POST refused with 503 is looked up first, found absent, and sent again once."""
    sandbox.set_fault("scim_users", "error", status=503, times=1)
    sandbox.reset_counts()
    created = client.create_user(new_user(1))
    assert created.id
    # POST (503), lookup by externalId, lookup by userName, POST (201)
    assert sandbox.request_counts()["scim_users"] == 4
    assert _count_users(client, created.user_name) == 1 and len(sleeps) == 1


def test_post_whose_answer_was_lost_is_not_repeated(
    sandbox: SandboxHandle, client: ScimClient
) -> None:
    """When the POST landed but its answer was garbled, the lookup finds the user: no resend."""
    sandbox.set_fault("scim_users", "malformed", times=1)
    sandbox.reset_counts()
    created = client.create_user(new_user(1))
    assert created.external_id == "EMP-9001"
    assert sandbox.request_counts()["scim_users"] == 2  # POST, lookup by externalId
    assert _count_users(client, created.user_name) == 1


def test_post_rate_limited_then_created(
    sandbox: SandboxHandle, client: ScimClient, sleeps: Sleeps
) -> None:
    """A 429 on POST waits Retry-After after the lookup and creates exactly one user."""
    sandbox.set_fault("scim_users", "rate_limit", retry_after=2, times=1)
    created = client.create_user(new_user(1))
    assert sleeps == [2.0] and _count_users(client, created.user_name) == 1


def test_post_persistent_failure_raises_and_creates_nothing(
    sandbox: SandboxHandle, make_client: MakeClient
) -> None:
    """A POST that fails while the lookup fails too raises; nothing is resent or created."""
    client = make_client(max_retries=2)
    sandbox.set_fault("scim_users", "error", status=500)
    sandbox.reset_counts()
    with pytest.raises(ProviderUnavailableError):
        client.create_user(new_user(1))
    assert sandbox.request_counts()["scim_users"] == 1 + 3  # one POST, the lookup's tries
    sandbox.clear_faults()
    assert client.find_user(user_name=new_user(1).user_name) is None


def test_post_timeout_creates_one_user() -> None:
    """A POST that times out while the server still creates the user ends with one user.

    A private sandbox: the delayed request finishes after the client gave up, and must
    not land in another test's state.
    """
    from datetime import timedelta

    from rpkit.config import HttpConfig
    from rpkit.testing import SCIM_CLIENT_ID, SCIM_CLIENT_SECRET, sandbox_server

    with sandbox_server() as sandbox:
        config = ScimConfig(
            base_url=sandbox.urls["scim_base"],
            token_url=sandbox.urls["token"],
            client_id=SCIM_CLIENT_ID,
            client_secret=SCIM_CLIENT_SECRET,
            http=HttpConfig(timeout=timedelta(seconds=0.3)),
            backoff=timedelta(seconds=0.01),
        )
        client = ScimClient(config, sleep=Sleeps())
        client.get_user(INGRID_ID)  # token first, so the fault hits the POST
        sandbox.set_fault("scim_users", "latency", delay=0.8, times=1)
        created = client.create_user(new_user(1))
        assert created.id
        # The delayed POST then meets the user our resend created: 409, no duplicate.
        assert _count_users(client, created.user_name) == 1


def test_underfilled_pages_lose_nothing(sleeps: Sleeps) -> None:
    """A server returning 3 items per page while claiming 10 is still listed completely."""
    plan = StubPlan(users=50, max_page=3)
    with stub_server(plan) as base:
        config = ScimConfig(
            base_url=base, token_url=base + "/token", client_id="c", client_secret="s"
        )
        users = list(ScimClient(config, sleep=sleeps).list_users(page_size=10))
    assert [u.user_name for u in users] == [f"u{n}@stub.example" for n in range(1, 51)]
    assert len(plan.requests) == 17


def test_empty_page_before_total_ends_listing(sleeps: Sleeps) -> None:
    """An empty page before totalResults ends the listing instead of looping forever."""
    plan = StubPlan(users=50, max_page=10, empty_from=21)
    with stub_server(plan) as base:
        config = ScimConfig(
            base_url=base, token_url=base + "/token", client_id="c", client_secret="s"
        )
        users = list(ScimClient(config, sleep=sleeps).list_users(page_size=10))
    assert len(users) == 20 and len(plan.requests) == 3


def test_server_ignoring_start_index_is_an_error(sleeps: Sleeps) -> None:
    """A server that answers page 1 to every startIndex raises instead of looping."""
    plan = StubPlan(users=50, max_page=10, ignore_start=True)
    with stub_server(plan) as base:
        config = ScimConfig(
            base_url=base, token_url=base + "/token", client_id="c", client_secret="s"
        )
        with pytest.raises(ProviderResponseError):
            list(ScimClient(config, sleep=sleeps).list_users(page_size=10))
    assert len(plan.requests) == 2


def test_persistent_401_refreshes_once_then_raises(sleeps: Sleeps) -> None:
    """A 401 gets one new token and one resend, never a loop."""
    plan = StubPlan(unauthorized=True)
    with stub_server(plan) as base:
        config = ScimConfig(
            base_url=base, token_url=base + "/token", client_id="c", client_secret="s"
        )
        with pytest.raises(ProviderResponseError) as caught:
            ScimClient(config, sleep=sleeps).get_user("1")
    assert caught.value.status == 401
    assert len(plan.requests) == 2 and plan.tokens == 2 and sleeps == []


@pytest.mark.parametrize(
    ("endpoint", "call"),
    [
        ("scim_membership", lambda c: c.add_to_group(INGRID_ID, "6481")),
        ("scim_membership", lambda c: c.remove_from_group(INGRID_ID, "6480")),
        ("scim_groups", lambda c: c.get_group("6480")),
        ("scim_groups", lambda c: c.create_group("Retry Team")),
        ("scim_discovery", lambda c: c.schemas()),
    ],
    ids=["add_member", "remove_member", "get_group", "create_group", "schemas"],
)
def test_other_endpoints_retry(
    sandbox: SandboxHandle, client: ScimClient, sleeps: Sleeps, endpoint: str, call: Any
) -> None:
    """Membership, group and discovery calls ride out a 503 too."""
    sandbox.set_fault(endpoint, "error", status=503, times=1)
    call(client)
    assert len(sleeps) == 1
    assert len([g for g in client.list_groups() if g.display_name == "Retry Team"]) <= 1


def test_delete_whose_answer_was_lost(sleeps: Sleeps) -> None:
    """A 404 to a resent DELETE means the first one worked; a first-time 404 still raises."""
    plan = StubPlan(delete_answers=[503, 404, 404])
    with stub_server(plan) as base:
        config = ScimConfig(
            base_url=base, token_url=base + "/token", client_id="c", client_secret="s"
        )
        client = ScimClient(config, sleep=sleeps)
        client.delete_user("1001")
        with pytest.raises(ProviderResponseError) as caught:
            client.delete_user("1001")
    assert caught.value.status == 404 and len(plan.requests) == 3


def test_echoed_password_is_redacted(sleeps: Sleeps) -> None:
    """A server echoing the password in its error does not put it in our message."""
    with stub_server(StubPlan()) as base:
        config = ScimConfig(
            base_url=base, token_url=base + "/token", client_id="c", client_secret="s"
        )
        user = replace(new_user(1), password="Hunter2-Secret")
        with pytest.raises(ProviderResponseError) as caught:
            ScimClient(config, sleep=sleeps).create_user(user)
    assert caught.value.status == 400
    assert "Hunter2-Secret" not in str(caught.value)
    assert "Hunter2-Secret" not in (caught.value.error_description or "")


def test_requests_accept_scim_and_plain_json(sleeps: Sleeps) -> None:
    """Every User API request sends Accept: application/scim+json, application/json
    (ASP.NET answers, and may negotiate, plain JSON)."""
    plan = StubPlan(users=5, max_page=5)
    with stub_server(plan) as base:
        config = ScimConfig(
            base_url=base, token_url=base + "/token", client_id="c", client_secret="s"
        )
        users = list(ScimClient(config, sleep=sleeps).list_users())
    assert len(users) == 5
    assert plan.accepts == ["application/scim+json, application/json"]
