"""ScimClient against the sandbox's User API over real HTTP: every call, paging, merge, auth."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from rpkit.config import OidcConfig
from rpkit.errors import (
    ConfigurationError,
    ProviderResponseError,
    ValidationError,
)
from rpkit.oidc.client import OidcClient
from rpkit.scim import CrewExtension, Filter, Group, GroupMember, ScimClient, ScimConfig
from rpkit.testing import SCIM_CLIENT_ID, SCIM_CLIENT_SECRET, SandboxHandle

from .conftest import MakeClient
from .helpers import AURORA, INGRID, INGRID_ID, SEED_USERS, new_user


def test_list_users_yields_typed_seed(client: ScimClient) -> None:
    """list_users yields every seeded user with the crew extension parsed."""
    users = list(client.list_users())
    assert len(users) == SEED_USERS
    ingrid = next(u for u in users if u.id == INGRID_ID)
    assert ingrid.user_name == INGRID and ingrid.external_id == "EMP-1001"
    assert ingrid.crew.rank == "Master" and ingrid.crew.ship_imo == AURORA
    assert ingrid.crew.ship_name == "MV Nordic Aurora"
    assert ingrid.crew.force_change_password is False
    assert ingrid.meta is not None and ingrid.meta.resource_type == "User"


def test_paging_across_many_users(
    sandbox: SandboxHandle, client: ScimClient, make_client: MakeClient
) -> None:
    """120 new users come back exactly once through pages of 7."""
    for n in range(120):
        client.create_user(new_user(n))
    sandbox.reset_counts()
    users = list(make_client(page_size=7).list_users())
    assert len(users) == 120 + SEED_USERS
    assert len({u.id for u in users}) == len(users)
    assert sandbox.request_counts()["scim_users"] == -(-(120 + SEED_USERS) // 7)


def test_filtered_list_and_find(client: ScimClient) -> None:
    """Filters on documented attributes reach the server; find_user matches both ways."""
    found = list(client.list_users(filter=Filter.eq("externalId", "EMP-1005")))
    assert [u.id for u in found] == ["87238"]
    by_id = client.find_user(external_id="EMP-1001")
    by_name = client.find_user(user_name=INGRID.upper())
    assert by_id is not None and by_name is not None and by_id.id == by_name.id == INGRID_ID
    assert client.find_user(external_id='EMP" or userName pr or "', user_name="x@y.example") is None


def test_get_user_and_404(client: ScimClient) -> None:
    """get_user returns one user; an unknown id is a 404 with Dualog's correlationId."""
    assert client.get_user(INGRID_ID).user_name == INGRID
    with pytest.raises(ProviderResponseError) as caught:
        client.get_user("1")
    assert caught.value.status == 404
    assert caught.value.error == "NotFound" and caught.value.correlation_id


def test_create_user(client: ScimClient) -> None:
    """create_user POSTs once and returns the stored user with the ship name resolved."""
    created = client.create_user(new_user(1))
    assert created.id and created.crew.ship_name == "MV Nordic Aurora"
    assert created.crew.user_fields[0].key == "businessUnit"
    assert client.get_user(created.id).external_id == "EMP-9001"


def test_create_refused_by_server_is_not_retried(
    sandbox: SandboxHandle, client: ScimClient
) -> None:
    """A 400 (unknown ship, valid IMO) raises with the correlationId and is sent once."""
    sandbox.reset_counts()
    with pytest.raises(ProviderResponseError) as caught:
        client.create_user(new_user(1, ship_imo="9074729"))
    assert caught.value.status == 400 and caught.value.correlation_id
    assert sandbox.request_counts()["scim_users"] == 1


def test_invalid_user_is_not_sent(sandbox: SandboxHandle, client: ScimClient) -> None:
    """Validation fails before any request."""
    sandbox.reset_counts()
    with pytest.raises(ValidationError) as caught:
        client.create_user(new_user(1, ship_imo="9312457"))
    assert caught.value.field == "shipImo"
    assert "scim_users" not in sandbox.request_counts()


def test_update_merges_and_keeps_untouched_fields(
    sandbox: SandboxHandle, client: ScimClient
) -> None:
    """update_user changes one field; everything else, the password included, survives."""
    before = client.get_user(INGRID_ID)
    after = client.update_user(
        INGRID_ID, lambda u: replace(u, crew=replace(u.crew, rank="Captain"))
    )
    assert after.crew.rank == "Captain"
    for name in ("external_id", "emails", "groups", "given_name", "family_name", "active"):
        assert getattr(after, name) == getattr(before, name), name
    for name in ("ship_imo", "ship_name", "contract_start_date", "contract_end_date"):
        assert getattr(after.crew, name) == getattr(before.crew, name), name
    assert sandbox.password_tokens(INGRID)["access_token"]


def test_replace_user_clears_what_is_not_sent(client: ScimClient) -> None:
    """A bare PUT clears omitted fields, which is why update_user reads first."""
    current = client.get_user(INGRID_ID)
    bare = replace(current, external_id=None, crew=CrewExtension())
    replaced = client.replace_user(bare)
    assert replaced.external_id is None and replaced.crew.ship_imo is None


def test_delete_user(client: ScimClient) -> None:
    """delete_user removes the user; deleting again is a 404."""
    client.delete_user(INGRID_ID)
    with pytest.raises(ProviderResponseError) as caught:
        client.delete_user(INGRID_ID)
    assert caught.value.status == 404


def test_groups_crud(client: ScimClient) -> None:
    """Groups: create, get, find, list, rename (merge keeps members), replace, delete."""
    group = client.create_group("Bridge Team", members=(INGRID_ID,))
    assert group.id and [m.value for m in group.members] == [INGRID_ID]
    assert client.get_group(group.id).display_name == "Bridge Team"
    assert client.find_group("bridge team") == client.get_group(group.id)
    assert len(list(client.list_groups(page_size=2))) == 5
    renamed = client.update_group(group.id, lambda g: replace(g, display_name="Bridge"))
    assert renamed.display_name == "Bridge" and [m.value for m in renamed.members] == [INGRID_ID]
    emptied = client.replace_group(Group(id=group.id, display_name="Bridge"))
    assert emptied.members == ()
    with_member = client.replace_group(replace(emptied, members=(GroupMember(value="87235"),)))
    assert [m.value for m in with_member.members] == ["87235"]
    client.delete_group(group.id)
    assert client.find_group("Bridge") is None
    with pytest.raises(ValidationError):
        client.create_group("  ")


def test_membership_on_the_legacy_route(sandbox: SandboxHandle, client: ScimClient) -> None:
    """add_to_group/remove_from_group use /api/v2 and leave other groups alone."""
    sandbox.reset_counts()
    client.add_to_group(INGRID_ID, "6481")
    assert [g.value for g in client.get_user(INGRID_ID).groups] == ["6480", "6481"]
    client.remove_from_group(INGRID_ID, "6480")
    assert [g.value for g in client.get_user(INGRID_ID).groups] == ["6481"]
    assert sandbox.request_counts()["scim_membership"] == 2
    with pytest.raises(ProviderResponseError) as caught:
        client.add_to_group(INGRID_ID, "999")
    assert caught.value.status == 404


def test_discovery_endpoints(client: ScimClient) -> None:
    """The four discovery endpoints answer and name the crew extension."""
    assert any(e.endswith("/Users") for e in client.endpoints()["endpoints"])
    assert client.service_provider_config()["patch"]["supported"] is False
    assert {r["id"] for r in client.resource_types()} == {"User", "Group"}
    ids = {s["id"] for s in client.schemas()}
    assert "urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew" in ids


def test_crew_read_reads_but_cannot_write(make_client: MakeClient) -> None:
    """A crew_read client lists users; each write is a 403 ProviderResponseError."""
    reader = make_client(readonly=True)
    assert len(list(reader.list_users())) == SEED_USERS
    writes = [
        lambda: reader.create_user(new_user(1)),
        lambda: reader.update_user(INGRID_ID, lambda u: replace(u, display_name="X")),
        lambda: reader.delete_user(INGRID_ID),
        lambda: reader.create_group("Nope"),
        lambda: reader.delete_group("6480"),
        lambda: reader.add_to_group(INGRID_ID, "6481"),
    ]
    for write in writes:
        with pytest.raises(ProviderResponseError) as caught:
            write()
        assert caught.value.status == 403 and caught.value.correlation_id


def test_token_is_cached(sandbox: SandboxHandle, client: ScimClient) -> None:
    """Many calls share one client-credentials token."""
    sandbox.reset_counts()
    client.get_user(INGRID_ID)
    list(client.list_users())
    client.get_group("6480")
    assert sandbox.request_counts()["token"] == 1


def test_token_refreshed_before_expiry(sandbox: SandboxHandle, make_client: MakeClient) -> None:
    """Shortly before the 24 h expiry a new token is fetched, without a 401 first."""
    now = [1_000_000.0]
    client = make_client(clock=lambda: now[0])
    client.get_user(INGRID_ID)
    now[0] += 24 * 3600 - 60  # inside the 5 minute margin
    sandbox.reset_counts()
    client.get_user(INGRID_ID)
    assert sandbox.request_counts() == {"token": 1, "scim_users": 1}


def test_token_refreshed_once_on_401(sandbox: SandboxHandle, client: ScimClient) -> None:
    """A token the server no longer accepts is replaced once, and the call succeeds."""
    client.get_user(INGRID_ID)
    sandbox.shift_clock(25 * 3600)  # the cached token has expired on the server
    sandbox.reset_counts()
    assert client.get_user(INGRID_ID).id == INGRID_ID
    assert sandbox.request_counts() == {"token": 1, "scim_users": 2}


def test_token_via_oidc_client(sandbox: SandboxHandle) -> None:
    """An OidcClient (discovery) can supply the token instead of a token URL."""
    oidc = OidcClient(
        OidcConfig(
            issuer=sandbox.issuer, client_id=SCIM_CLIENT_ID, client_secret=SCIM_CLIENT_SECRET
        )
    )
    client = ScimClient(ScimConfig(base_url=sandbox.urls["scim_base"]), oidc=oidc)
    assert client.get_user(INGRID_ID).user_name == INGRID
    sandbox.shift_clock(25 * 3600)
    assert client.get_user(INGRID_ID).user_name == INGRID


def test_bad_credentials_raise(make_client: MakeClient) -> None:
    """A wrong secret surfaces as the token endpoint's error."""
    with pytest.raises(ProviderResponseError) as caught:
        make_client(client_secret="wrong").get_user(INGRID_ID)
    assert caught.value.status == 401


def test_a_misspelt_client_option_is_refused() -> None:
    """ScimClient hands its transport options on by name; a misspelt one is a TypeError,
    as for any keyword-only signature, never silently ignored."""
    config = ScimConfig(client_id="x", client_secret="s")
    with pytest.raises(TypeError, match="sleeep"):
        ScimClient(config, sleeep=lambda _: None)  # type: ignore[call-arg]
    sleeps: list[float] = []
    assert ScimClient(config, sleep=sleeps.append).transport.sleep == sleeps.append


def test_config_errors() -> None:
    """Configuration mistakes raise ConfigurationError when the client is built."""
    with pytest.raises(ConfigurationError):
        ScimClient(ScimConfig(client_id="x"))
    with pytest.raises(ConfigurationError):
        oidc = OidcClient(OidcConfig(issuer="https://crew.dualog.com/auth", client_id="x"))
        ScimClient(ScimConfig(token_url="https://apps.dualog.com/auth/connect/token"), oidc=oidc)
    with pytest.raises(ConfigurationError):
        ScimConfig(base_url="http://dualog.example/api/scim/v2")
    with pytest.raises(ConfigurationError):
        ScimConfig(page_size=0)
    with pytest.raises(ConfigurationError):
        ScimConfig.from_mapping({"base_url": "https://x.example", "colour": "red"})
    config = ScimConfig.from_env(
        {
            "RPKIT_SCIM_BASE_URL": "https://apps.example/api/cd-customer-scim-public-api/api/scim/v2",
            "RPKIT_SCIM_CLIENT_ID": "cms",
            "RPKIT_SCIM_CLIENT_SECRET": "s",
            "RPKIT_SCIM_SCOPE": "crew_read",
            "RPKIT_SCIM_MAX_RETRIES": "2",
        }
    )
    assert config.legacy_base_url == "https://apps.example/api/cd-customer-scim-public-api/api/v2"
    assert config.max_retries == 2 and config.scope == "crew_read"
    assert "client_secret" not in repr(config)
    assert config.token_refresh_margin == timedelta(minutes=5)
    with pytest.raises(ConfigurationError):
        ScimConfig.from_env({"RPKIT_SCIM_BASEURL": "https://x.example"})
