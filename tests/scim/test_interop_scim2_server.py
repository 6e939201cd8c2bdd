"""ScimClient and the roster sync against scim2-server (PyPI), a SCIM server none of us wrote.

Covered: the protocol subset Dualog shares with RFC 7644 (list with paging and filters,
get, create, PUT, delete for users and groups, discovery, SCIM error bodies), with the
seafarer extension registered as a custom schema from ``crew_extension_schema.json``
(written from the User API guide). Not covered: the legacy ``/api/v2`` membership route
(Dualog-only) and Dualog's business rules (ships, past dates), which scim2-server does not
have.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from scim2_models import ResourceType, Schema, ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

from rpkit.errors import ProviderResponseError
from rpkit.scim import (
    CREW_EXTENSION_URN,
    CrewExtension,
    Email,
    Filter,
    Group,
    ScimClient,
    ScimConfig,
    User,
    UserField,
)
from rpkit.scim.roster import parse_roster, rows_to_csv
from rpkit.scim.sync import SyncOptions, apply_plan, plan_sync

from .helpers import Sleeps, in_days

TOKEN = "scim2-server-token"


def _provider() -> ScimProvider:
    crew = Schema.model_validate(
        json.loads((Path(__file__).parent / "crew_extension_schema.json").read_text())
    )
    types = []
    for resource_type in load_default_resource_types().values():
        data = resource_type.model_dump()
        if data["id"] == "User":
            data["schemaExtensions"] = [
                *data.get("schemaExtensions", []),
                {"schema": CREW_EXTENSION_URN, "required": False},
            ]
        types.append(ResourceType.model_validate(data))
    return ScimProvider.from_discovery(
        [*load_default_schemas().values(), crew],
        types,
        config=load_default_service_provider_config(),
    )


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def _server() -> Iterator[tuple[str, list[InMemoryStorage]]]:
    holder = [InMemoryStorage()]
    provider = _provider()

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        # A token endpoint next to the SCIM app: scim2-server accepts static tokens.
        if environ["PATH_INFO"] == "/token":
            start_response("200 OK", [("Content-Type", "application/json")])
            body = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 86400}
            return [json.dumps(body).encode()]
        app = BearerTokenApplication(holder[0], provider, bearer_tokens=[TOKEN])
        return app(environ, start_response)

    server = make_server(
        "127.0.0.1", 0, wsgi, server_class=ThreadingWSGIServer, handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", holder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def client(_server: tuple[str, list[InMemoryStorage]]) -> ScimClient:
    """A client on an empty scim2-server."""
    base, holder = _server
    holder[0] = InMemoryStorage()
    config = ScimConfig(
        base_url=base + "/v2", token_url=base + "/token", client_id="c", client_secret="s"
    )
    return ScimClient(config, sleep=Sleeps())


def _user(n: int, **crew: Any) -> User:
    return User(
        user_name=f"crew{n}@fleet.example",
        external_id=f"E{n}",
        given_name="Kari",
        family_name=f"Hansen{n}",
        emails=(Email(value=f"crew{n}@fleet.example", type="work", primary=True),),
        crew=CrewExtension(
            rank="AB",
            ship_imo="9312456",
            contract_start_date=in_days(1),
            contract_end_date=in_days(100),
            user_fields=(UserField(key="businessUnit", value="North"),),
            **crew,
        ),
    )


def test_user_lifecycle(client: ScimClient) -> None:
    """Create, get, find, merge-update and delete a user with the crew extension."""
    created = client.create_user(_user(1))
    assert created.id and created.crew.ship_imo == "9312456"
    assert created.crew.user_fields == (UserField(key="businessUnit", value="North"),)
    assert client.get_user(created.id) == created
    assert client.find_user(external_id="E1") == created
    assert client.find_user(user_name="CREW1@fleet.example") is not None
    updated = client.update_user(created.id, lambda u: replace(u, crew=replace(u.crew, rank="OS")))
    assert updated.crew.rank == "OS" and updated.external_id == "E1"
    assert updated.crew.contract_end_date == in_days(100)
    client.delete_user(created.id)
    with pytest.raises(ProviderResponseError) as caught:
        client.get_user(created.id)
    assert caught.value.status == 404


def test_paging_and_filters(client: ScimClient) -> None:
    """25 users come back once each through pages of 4; filters select by externalId."""
    for n in range(25):
        client.create_user(_user(n))
    users = list(client.list_users(page_size=4))
    assert len(users) == 25 and len({u.id for u in users}) == 25
    assert [u.external_id for u in client.list_users(filter=Filter.eq("externalId", "E7"))] == [
        "E7"
    ]


def test_duplicate_user_name_is_a_409(client: ScimClient) -> None:
    """scim2-server's SCIM error body maps to ProviderResponseError with scimType."""
    client.create_user(_user(1))
    with pytest.raises(ProviderResponseError) as caught:
        client.create_user(_user(1))
    assert caught.value.status == 409 and caught.value.error == "uniqueness"


def test_groups_crud(client: ScimClient) -> None:
    """Groups: create with a member, get, list, rename, replace members, delete."""
    user = client.create_user(_user(1))
    assert user.id is not None
    group = client.create_group("Deck", members=(user.id,))
    assert group.id and [m.value for m in group.members] == [user.id]
    assert client.get_group(group.id).display_name == "Deck"
    assert [g.display_name for g in client.list_groups()] == ["Deck"]
    renamed = client.update_group(group.id, lambda g: replace(g, display_name="Deck Crew"))
    assert renamed.display_name == "Deck Crew" and len(renamed.members) == 1
    emptied = client.replace_group(Group(id=group.id, display_name="Deck Crew"))
    assert emptied.members == ()
    client.delete_group(group.id)
    assert client.find_group("Deck Crew") is None


def test_discovery(client: ScimClient) -> None:
    """ServiceProviderConfig, ResourceTypes and Schemas parse; the crew schema is listed."""
    assert client.service_provider_config()["filter"]["supported"] is True
    assert {r["id"] for r in client.resource_types()} == {"User", "Group"}
    assert CREW_EXTENSION_URN in {s["id"] for s in client.schemas()}


def test_roster_sync(client: ScimClient) -> None:
    """The sync creates, transfers, signs off and disables on scim2-server; rerun is empty."""

    def row(n: int, **changes: str) -> dict[str, str]:
        values = {
            "first_name": "Kari",
            "surname": f"Hansen{n}",
            "email": f"crew{n}@fleet.example",
            "employee_id": f"E{n}",
            "rank": "AB",
            "imo": "9312456",
            "contract_start": in_days(2),
            "contract_end": in_days(90),
        }
        values.update(changes)
        return values

    def sync(rows: list[dict[str, str]]) -> list[str]:
        roster = parse_roster(rows_to_csv(rows))
        plan = plan_sync(roster, client.list_users(), today=client.today(), options=SyncOptions())
        report = apply_plan(client, plan)
        assert report.ok, [f.reason for f in report.failed]
        again = plan_sync(roster, client.list_users(), today=client.today())
        assert again.is_empty, again.actions
        return sorted(a.action for a in plan.actions)

    assert sync([row(1), row(2), row(3)]) == ["create"] * 3
    changed = [row(1, imo="9487122"), row(2, contract_start=in_days(-90), contract_end=in_days(-1))]
    assert sync(changed) == ["departure", "sign_off", "transfer"]
    by_id = {u.external_id: u for u in client.list_users()}
    assert by_id["E1"].crew.ship_imo == "9487122"
    assert by_id["E2"].crew.ship_imo is None and by_id["E2"].active
    assert by_id["E3"].active is False
