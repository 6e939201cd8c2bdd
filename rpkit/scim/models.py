"""Typed SCIM User and Group as Dualog's User API spells them, and their JSON forms.

Frozen dataclasses of our own rather than scim2-models: those are pydantic models that
would cross the public surface, and Dualog's extension, required-field rules and PUT
semantics need code around them anyway. Attributes rpkit does not model are kept in
``extra`` and sent back unchanged, so a read-merge-PUT never clears them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProviderResponseError

__all__ = [
    "CREW_EXTENSION_URN",
    "GROUP_URN",
    "LIST_RESPONSE_URN",
    "USER_URN",
    "CrewExtension",
    "Email",
    "Group",
    "GroupMember",
    "GroupRef",
    "Meta",
    "PhoneNumber",
    "User",
    "UserField",
    "group_from_scim",
    "group_to_scim",
    "user_from_scim",
    "user_to_scim",
]

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_RESPONSE_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
# User API guide, "Custom Fields (Crew Extension)".
CREW_EXTENSION_URN = "urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew"
"""The schema URN of Dualog's crew extension (rank, ship, contract dates, user fields)."""

_USER_KEYS = frozenset(
    {
        "schemas",
        "id",
        "externalId",
        "userName",
        "name",
        "displayName",
        "active",
        "emails",
        "phoneNumbers",
        "groups",
        "password",
        "meta",
        CREW_EXTENSION_URN,
    }
)
_CREW_KEYS = frozenset(
    {
        "rank",
        "department",
        "shipName",
        "shipImo",
        "contractStartDate",
        "contractEndDate",
        "forceChangePassword",
        "userFields",
    }
)
_GROUP_KEYS = frozenset({"schemas", "id", "displayName", "members", "meta"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Email:
    """One entry of ``emails``: ``type`` is ``work`` or ``home`` on Dualog."""

    value: str
    type: str | None = None
    primary: bool | None = None
    display: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PhoneNumber:
    """One entry of ``phoneNumbers`` (RFC 7643 §4.1.2)."""

    value: str
    type: str | None = None
    primary: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupRef:
    """A group a user belongs to: ``value`` is the group id."""

    value: str
    display: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class UserField:
    """A custom property in the crew extension's ``userFields`` (``businessUnit``...)."""

    key: str
    value: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Meta:
    """Server-maintained metadata; never sent."""

    resource_type: str | None = None
    created: str | None = None
    last_modified: str | None = None
    location: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CrewExtension:
    """Dualog's seafarer extension. Contract dates are ``yyyy-MM-dd`` strings as sent."""

    rank: str | None = None
    department: str | None = None
    ship_name: str | None = None
    ship_imo: str | None = None
    contract_start_date: str | None = None
    contract_end_date: str | None = None
    force_change_password: bool | None = None
    user_fields: tuple[UserField, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class User:
    """A Dualog user. ``id`` and ``meta`` are the server's; ``password`` is write-only.

    ``phone_numbers`` is None when the server did not return the attribute at all, so a
    comparison can tell "no phone" from "phones not stored here".
    """

    user_name: str
    given_name: str
    family_name: str
    id: str | None = None
    external_id: str | None = None
    display_name: str | None = None
    active: bool = True
    emails: tuple[Email, ...] = ()
    phone_numbers: tuple[PhoneNumber, ...] | None = None
    groups: tuple[GroupRef, ...] = ()
    crew: CrewExtension = field(default_factory=CrewExtension)
    password: str | None = field(default=None, repr=False)
    meta: Meta | None = None
    name_extra: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupMember:
    """A member of a group: ``value`` is the user id."""

    value: str
    display: str | None = None
    type: str | None = "User"


@dataclass(frozen=True, kw_only=True, slots=True)
class Group:
    """A Dualog user group."""

    display_name: str
    id: str | None = None
    members: tuple[GroupMember, ...] = ()
    meta: Meta | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def user_to_scim(user: User) -> dict[str, Any]:
    """The request body for POST/PUT /Users.

    Dualog requires ``active``, ``emails``, ``groups``, ``name`` and the crew extension with
    at least an empty ``userFields`` (User API guide, "Creating a User"), so they are always
    present; ``schemas``, ``id`` and ``meta`` are response-only and never sent.
    """
    crew = user.crew
    extension = dict(crew.extra)
    extension.update(
        _drop_none(
            {
                "rank": crew.rank,
                "department": crew.department,
                "shipName": crew.ship_name,
                "shipImo": crew.ship_imo,
                "contractStartDate": crew.contract_start_date,
                "contractEndDate": crew.contract_end_date,
                "forceChangePassword": crew.force_change_password,
            }
        )
    )
    extension["userFields"] = [{"key": f.key, "value": f.value} for f in crew.user_fields]
    body = dict(user.extra)
    name = dict(user.name_extra)
    name.update({"givenName": user.given_name, "familyName": user.family_name})
    body.update(
        _drop_none(
            {
                "userName": user.user_name,
                "externalId": user.external_id,
                "name": name,
                "displayName": user.display_name,
                "active": user.active,
                "password": user.password,
            }
        )
    )
    body["emails"] = [
        _drop_none({"value": e.value, "type": e.type, "primary": e.primary, "display": e.display})
        for e in user.emails
    ]
    if user.phone_numbers is not None:
        body["phoneNumbers"] = [
            _drop_none({"value": p.value, "type": p.type, "primary": p.primary})
            for p in user.phone_numbers
        ]
    body["groups"] = [{"value": g.value} for g in user.groups]
    body[CREW_EXTENSION_URN] = extension
    return body


def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _objects(body: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = body.get(key)
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _meta(body: Mapping[str, Any]) -> Meta | None:
    meta = body.get("meta")
    if not isinstance(meta, Mapping):
        return None
    return Meta(
        resource_type=_text(meta, "resourceType"),
        created=_text(meta, "created"),
        last_modified=_text(meta, "lastModified"),
        location=_text(meta, "location"),
    )


def _crew(body: Mapping[str, Any]) -> CrewExtension:
    ext = body.get(CREW_EXTENSION_URN)
    if not isinstance(ext, Mapping):
        return CrewExtension()
    fields = tuple(
        UserField(key=str(f.get("key", "")), value=str(f.get("value", "")))
        for f in _objects(ext, "userFields")
    )
    return CrewExtension(
        rank=_text(ext, "rank"),
        department=_text(ext, "department"),
        ship_name=_text(ext, "shipName"),
        ship_imo=_text(ext, "shipImo"),
        contract_start_date=_text(ext, "contractStartDate"),
        contract_end_date=_text(ext, "contractEndDate"),
        force_change_password=_bool(ext.get("forceChangePassword")),
        user_fields=fields,
        extra={k: v for k, v in ext.items() if k not in _CREW_KEYS},
    )


def user_from_scim(body: Any) -> User:
    """Parse a User resource from the server.

    Raises:
        ProviderResponseError: the body is not an object or has no ``userName``.
    """
    if not isinstance(body, Mapping):
        raise ProviderResponseError("SCIM user is not a JSON object")
    user_name = _text(body, "userName")
    if not user_name:
        raise ProviderResponseError('SCIM user has no "userName"')
    name = body.get("name")
    name = name if isinstance(name, Mapping) else {}
    phones = body.get("phoneNumbers")
    active = body.get("active")
    return User(
        id=_text(body, "id"),
        user_name=user_name,
        external_id=_text(body, "externalId"),
        given_name=_text(name, "givenName") or "",
        family_name=_text(name, "familyName") or "",
        display_name=_text(body, "displayName"),
        active=active if isinstance(active, bool) else True,
        emails=tuple(
            Email(
                value=str(e.get("value", "")),
                type=_text(e, "type"),
                primary=_bool(e.get("primary")),
                display=_text(e, "display"),
            )
            for e in _objects(body, "emails")
        ),
        phone_numbers=None
        if not isinstance(phones, list)
        else tuple(
            PhoneNumber(
                value=str(p.get("value", "")),
                type=_text(p, "type"),
                primary=_bool(p.get("primary")),
            )
            for p in _objects(body, "phoneNumbers")
        ),
        groups=tuple(
            GroupRef(value=str(g.get("value", "")), display=_text(g, "display"))
            for g in _objects(body, "groups")
        ),
        crew=_crew(body),
        meta=_meta(body),
        name_extra={k: v for k, v in name.items() if k not in ("givenName", "familyName")},
        extra={k: v for k, v in body.items() if k not in _USER_KEYS},
    )


def group_to_scim(group: Group) -> dict[str, Any]:
    """The request body for POST/PUT /Groups: ``displayName`` and ``members``."""
    body = dict(group.extra)
    body["displayName"] = group.display_name
    body["members"] = [_drop_none({"value": m.value, "type": m.type}) for m in group.members]
    return body


def group_from_scim(body: Any) -> Group:
    """Parse a Group resource from the server.

    Raises:
        ProviderResponseError: the body is not an object or has no ``displayName``.
    """
    if not isinstance(body, Mapping):
        raise ProviderResponseError("SCIM group is not a JSON object")
    display_name = _text(body, "displayName")
    if display_name is None:
        raise ProviderResponseError('SCIM group has no "displayName"')
    return Group(
        id=_text(body, "id"),
        display_name=display_name,
        members=tuple(
            GroupMember(
                value=str(m.get("value", "")), display=_text(m, "display"), type=_text(m, "type")
            )
            for m in _objects(body, "members")
        ),
        meta=_meta(body),
        extra={k: v for k, v in body.items() if k not in _GROUP_KEYS},
    )
