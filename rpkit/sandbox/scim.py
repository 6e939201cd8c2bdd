"""Dualog's User API (SCIM 2.0) over the crew store, with its documented semantics."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Generic, TypeVar

from flask import Blueprint, Response, request

from .crew import CrewStore, DuplicateError
from .models import CrewMember, Group
from .oidc import sandbox
from .scim_filter import FilterError, parse_filter
from .scim_schema import LIST_URN, resource_types, schemas, service_provider_config
from .scim_users import ScimError, group_from_scim, group_to_scim, user_from_scim, user_to_scim
from .state import SCIM_LEGACY_PREFIX, SCIM_PREFIX
from .tokens import InvalidAccessTokenError, token_scopes

__all__ = ["bp"]

bp = Blueprint("scim", __name__)
_F = TypeVar("_F", bound=Callable[..., Response])
_T = TypeVar("_T")
_R = TypeVar("_R", CrewMember, Group)
_TITLES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    415: "UnsupportedMediaType",
}
_MAX_COUNT = 1000


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/scim+json")


def _error(status: int, detail: str) -> Response:
    """Dualog's error body: ``{type,title,status,detail,correlationId}``."""
    response = _json(
        {
            "type": f"https://httpstatuses.com/{status}",
            "title": _TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            "correlationId": str(uuid.uuid4()),
        },
        status,
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@bp.errorhandler(ScimError)
def _scim_error(err: ScimError) -> Response:
    return _error(err.status, err.detail)


def _authorized(write: bool) -> None:
    """Require a client-credentials token: crew_read reads, crew_import reads and writes."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not token:
        raise ScimError(401, "Authentication required: send a bearer access token")
    try:
        claims = sandbox().tokens.validate_access_token(token)
    except InvalidAccessTokenError as err:
        raise ScimError(401, f"Unauthorized: {err}") from err
    scopes = token_scopes(claims)
    if write and "crew_import" not in scopes:
        raise ScimError(403, "The token's scope does not allow changes (needs crew_import)")
    if not scopes & {"crew_import", "crew_read"}:
        raise ScimError(403, "The token needs scope crew_import or crew_read")


def _guarded(view: _F) -> _F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        _authorized(write=request.method not in ("GET", "HEAD"))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _body() -> Any:
    if request.mimetype not in ("application/json", "application/scim+json"):
        raise ScimError(415, "Send the body as application/json or application/scim+json")
    data = request.get_json(silent=True)
    if data is None:
        raise ScimError(400, "The request body is not valid JSON")
    return data


def _base() -> str:
    return sandbox().urls.as_dict()["scim_base"]


def _page(items: list[_T], render: Callable[[_T], Any]) -> dict[str, Any]:
    """One page of ``items``; only the page is rendered, so a page of a large tenant costs
    its size, not the tenant's (a full listing would otherwise be quadratic)."""
    try:
        start = int(request.args.get("startIndex", "1"))
        count = int(request.args.get("count", str(_MAX_COUNT)))
    except ValueError as err:
        raise ScimError(400, '"startIndex" and "count" must be integers') from err
    start = max(start, 1)
    count = min(max(count, 0), _MAX_COUNT)
    page = [render(item) for item in items[start - 1 : start - 1 + count]]
    return {
        "schemas": [LIST_URN],
        "totalResults": len(items),
        "startIndex": start,
        "itemsPerPage": len(page),
        "Resources": page,
    }


def _group_names() -> dict[str, str]:
    return {g.id: g.display_name for g in sandbox().store.list_groups()}


def _user_names() -> dict[str, str]:
    return {u.id: u.name for u in sandbox().store.list_users()}


# -- discovery ---------------------------------------------------------------------------


@bp.get(SCIM_PREFIX)
@bp.get(SCIM_PREFIX + "/")
def root() -> Response:
    """All available SCIM endpoints."""
    base = _base()
    return _json(
        {
            "endpoints": [
                f"{base}/{n}"
                for n in ("Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas")
            ]
        }
    )


@bp.get(SCIM_PREFIX + "/ServiceProviderConfig")
def service_provider_config_view() -> Response:
    """RFC 7644 §4: what this API supports."""
    return _json(service_provider_config(_base()))


@bp.get(SCIM_PREFIX + "/ResourceTypes")
def resource_types_view() -> Response:
    """RFC 7644 §4: User and Group."""
    return _all_of(resource_types(_base()))


@bp.get(SCIM_PREFIX + "/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    """One resource type."""
    return _one_of(resource_types(_base()), name, "Resource type")


@bp.get(SCIM_PREFIX + "/Schemas")
def schemas_view() -> Response:
    """RFC 7644 §4: the User, crew extension and Group schemas."""
    return _all_of(schemas(_base()))


@bp.get(SCIM_PREFIX + "/Schemas/<path:schema_id>")
def schema(schema_id: str) -> Response:
    """One schema."""
    return _one_of(schemas(_base()), schema_id, "Schema")


def _all_of(items: list[dict[str, Any]]) -> Response:
    """A ListResponse of every item on one page (the discovery endpoints do not page)."""
    return _json(
        {
            "schemas": [LIST_URN],
            "totalResults": len(items),
            "startIndex": 1,
            "itemsPerPage": len(items),
            "Resources": items,
        }
    )


def _one_of(items: list[dict[str, Any]], item_id: str, what: str) -> Response:
    found = [item for item in items if item["id"] == item_id]
    return _json(found[0]) if found else _error(404, f"{what} {item_id} not found")


# -- one resource, users and groups alike ------------------------------------------------


@dataclass(frozen=True)
class _Kind(Generic[_R]):
    """How the API reads, writes and renders one resource type (User or Group)."""

    name: str  # "User": in 404 details
    path: str  # "Users": the collection's path segment
    id_kind: str  # "user": the store's id sequence
    get: Callable[[CrewStore, str], _R | None]
    save: Callable[[CrewStore, _R], object]
    delete: Callable[[CrewStore, str], object]
    parse: Callable[..., _R]  # user_from_scim / group_from_scim
    # base URL -> (resource -> JSON); the names a listing shows are looked up once per page
    renderer: Callable[[str], Callable[[_R], dict[str, Any]]]
    list_all: Callable[[CrewStore], list[_R]]
    matcher: Callable[[str], Callable[[_R], bool]]  # the ``filter`` parameter -> predicate


def _saved(kind: _Kind[_R], resource: _R) -> _R:
    try:
        kind.save(sandbox().store, resource)
    except DuplicateError as err:
        raise ScimError(409, str(err)) from err
    return resource


def _create(kind: _Kind[_R]) -> Response:
    """POST: validate the body, store it under a new id, answer 201 with its Location."""
    state = sandbox()
    resource = kind.parse(
        _body(),
        store=state.store,
        now=state.clock.now(),
        existing=None,
        new_id=state.store.next_id(kind.id_kind),
    )
    _saved(kind, resource)
    response = _json(kind.renderer(_base())(resource), 201)
    response.headers["Location"] = f"{_base()}/{kind.path}/{resource.id}"
    return response


def _one(kind: _Kind[_R], resource_id: str) -> Response:
    """GET, PUT (replaces the whole resource) or DELETE one resource."""
    state = sandbox()
    existing = kind.get(state.store, resource_id)
    if existing is None:
        raise ScimError(404, f"{kind.name} {resource_id} not found")
    if request.method == "DELETE":
        kind.delete(state.store, resource_id)
        return Response(status=204)
    if request.method == "PUT":
        existing = _saved(
            kind,
            kind.parse(
                _body(),
                store=state.store,
                now=state.clock.now(),
                existing=existing,
                new_id=resource_id,
            ),
        )
    return _json(kind.renderer(_base())(existing))


def _collection(kind: _Kind[_R]) -> Response:
    """GET: one page of the resources that match ``filter``; POST: create one."""
    if request.method == "POST":
        return _create(kind)
    items = kind.list_all(sandbox().store)
    text = request.args.get("filter")
    if text:
        matches = kind.matcher(text)
        items = [item for item in items if matches(item)]
    return _json(_page(items, kind.renderer(_base())))


def _user_filter(text: str) -> Callable[[CrewMember], bool]:
    try:
        return parse_filter(text)
    except FilterError as err:
        raise ScimError(400, f"Invalid filter: {err}") from err


def _group_filter(text: str) -> Callable[[Group], bool]:
    """Groups filter on ``displayName eq "..."`` only, as Dualog documents."""
    parts = text.split(None, 2)
    if (
        len(parts) != 3
        or parts[0].lower() != "displayname"
        or parts[1].lower() != "eq"
        or not (parts[2].startswith('"') and parts[2].endswith('"'))
    ):
        raise ScimError(400, 'Invalid filter: groups filter on displayName eq "..." only')
    wanted = parts[2][1:-1].lower()
    return lambda group: group.display_name.lower() == wanted


def _user_renderer(base: str) -> Callable[[CrewMember], dict[str, Any]]:
    names = _group_names()
    return lambda member: user_to_scim(member, base, names)


def _group_renderer(base: str) -> Callable[[Group], dict[str, Any]]:
    names = _user_names()
    return lambda group: group_to_scim(group, base, names)


_USERS: _Kind[CrewMember] = _Kind(
    name="User",
    path="Users",
    id_kind="user",
    get=CrewStore.get_user,
    save=CrewStore.save_user,
    delete=CrewStore.delete_user,
    parse=user_from_scim,
    renderer=_user_renderer,
    list_all=CrewStore.list_users,
    matcher=_user_filter,
)
_GROUPS: _Kind[Group] = _Kind(
    name="Group",
    path="Groups",
    id_kind="group",
    get=CrewStore.get_group,
    save=CrewStore.save_group,
    delete=CrewStore.delete_group,
    parse=group_from_scim,
    renderer=_group_renderer,
    list_all=CrewStore.list_groups,
    matcher=_group_filter,
)


# -- users -------------------------------------------------------------------------------


@bp.route(SCIM_PREFIX + "/Users", methods=["GET", "POST"])
@_guarded
def users() -> Response:
    """List (startIndex, count, filter) or create users."""
    return _collection(_USERS)


@bp.route(SCIM_PREFIX + "/Users/<user_id>", methods=["GET", "PUT", "DELETE"])
@_guarded
def user(user_id: str) -> Response:
    """Get, replace (PUT replaces the whole resource) or delete one user."""
    return _one(_USERS, user_id)


# -- groups ------------------------------------------------------------------------------


@bp.route(SCIM_PREFIX + "/Groups", methods=["GET", "POST"])
@_guarded
def groups() -> Response:
    """List (startIndex, count, ``displayName eq``) or create groups."""
    return _collection(_GROUPS)


@bp.route(SCIM_PREFIX + "/Groups/<group_id>", methods=["GET", "PUT", "DELETE"])
@_guarded
def group(group_id: str) -> Response:
    """Get, replace or delete one group."""
    return _one(_GROUPS, group_id)


@bp.route(SCIM_LEGACY_PREFIX + "/Users/<user_id>/Groups/<group_id>", methods=["PUT", "DELETE"])
@_guarded
def membership(user_id: str, group_id: str) -> Response:
    """Add (PUT) or remove (DELETE) one group of one user; the legacy path, as documented."""
    state = sandbox()
    if state.store.get_user(user_id) is None:
        raise ScimError(404, f"User {user_id} not found")
    if state.store.get_group(group_id) is None:
        raise ScimError(404, f"Group {group_id} not found")
    state.store.set_membership(
        user_id, group_id, member=request.method == "PUT", now=state.clock.now()
    )
    return Response(status=204)
