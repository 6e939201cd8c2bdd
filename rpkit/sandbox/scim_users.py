"""SCIM resources <-> crew records, with Dualog's validation rules (User API guide)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from .crew import CrewStore
from .models import CrewMember, Group, hash_password
from .scim_schema import EXT_URN, GROUP_URN, USER_URN

__all__ = ["ScimError", "group_from_scim", "group_to_scim", "user_from_scim", "user_to_scim"]

_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


class ScimError(Exception):
    """A request the API refuses: becomes ``{type,title,status,detail,correlationId}``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def user_to_scim(member: CrewMember, base: str, groups: Mapping[str, str]) -> dict[str, Any]:
    """The GET representation of a user (the User API guide's example, field for field)."""
    extension = _drop_none(
        {
            "rank": member.rank,
            "department": member.department,
            "shipName": member.ship_name,
            "shipImo": member.ship_imo,
            "contractStartDate": member.contract_start.isoformat()
            if member.contract_start
            else None,
            "contractEndDate": member.contract_end.isoformat() if member.contract_end else None,
            "forceChangePassword": member.force_change_password,
            "userFields": [dict(f) for f in member.user_fields],
        }
    )
    return _drop_none(
        {
            "schemas": [USER_URN, EXT_URN],
            "id": member.id,
            "externalId": member.external_id,
            "userName": member.user_name,
            "name": {"familyName": member.family_name, "givenName": member.given_name},
            "displayName": member.display_name or member.name,
            "active": member.active,
            "emails": [dict(e) for e in member.emails],
            "phoneNumbers": [dict(p) for p in member.phone_numbers],
            "groups": [{"value": g, "display": groups.get(g, "")} for g in member.groups],
            "meta": {
                "resourceType": "User",
                "created": _stamp(member.created),
                "lastModified": _stamp(member.last_modified),
                "location": f"{base}/Users/{member.id}",
            },
            EXT_URN: extension,
        }
    )


def group_to_scim(group: Group, base: str, names: Mapping[str, str]) -> dict[str, Any]:
    """The representation of a group."""
    return {
        "schemas": [GROUP_URN],
        "id": group.id,
        "displayName": group.display_name,
        "members": [
            {"value": m, "display": names.get(m, ""), "type": "User"} for m in group.members
        ],
        "meta": {
            "resourceType": "Group",
            "created": _stamp(group.created),
            "lastModified": _stamp(group.last_modified),
            "location": f"{base}/Groups/{group.id}",
        },
    }


def _string(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ScimError(400, f'"{name}" is required')
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ScimError(400, f'"{name}" must be a non-empty string')
    return value


def _date(ext: Mapping[str, Any], name: str) -> date | None:
    value = _string(ext, name)
    if value is None:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ScimError(400, f'"{name}" must be in yyyy-MM-dd format')
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise ScimError(400, f'"{name}" is not a valid date') from err


def _check_password(password: str) -> None:
    # The sandbox's stand-in for "the password policy specified in the system".
    if (
        len(password) < 8
        or not re.search(r"[A-Z]", password)
        or not re.search(r"[a-z]", password)
        or not re.search(r"\d", password)
    ):
        raise ScimError(
            400,
            '"password" does not meet the password policy: at least 8 characters with '
            "upper case, lower case and a digit",
        )


def _list_of_objects(body: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ScimError(400, f'"{name}" is required and must be an array of objects')
    return value


def _phone_numbers(body: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """``phoneNumbers`` (RFC 7643 §4.1.2): optional; value, type, primary, display."""
    items = body.get("phoneNumbers")
    if items is None:
        return ()
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ScimError(400, '"phoneNumbers" must be an array of objects')
    phones: list[dict[str, Any]] = []
    for item in items:
        value = item.get("value")
        if not isinstance(value, str) or not value.strip():
            raise ScimError(400, '"phoneNumbers" values must be non-empty strings')
        phone: dict[str, Any] = {"value": value.strip()}
        for name in ("type", "display"):
            if item.get(name) is not None:
                if not isinstance(item[name], str):
                    raise ScimError(400, f'"phoneNumbers" "{name}" must be a string')
                phone[name] = item[name]
        if item.get("primary") is not None:
            if not isinstance(item["primary"], bool):
                raise ScimError(400, '"phoneNumbers" "primary" must be true or false')
            phone["primary"] = item["primary"]
        phones.append(phone)
    # RFC 7643 §2.4: "primary" true appears no more than once.
    if sum(1 for p in phones if p.get("primary") is True) > 1:
        raise ScimError(400, '"phoneNumbers" may have only one primary number')
    return tuple(phones)


def _one_year_after(start: date) -> date:
    try:
        return start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        return start.replace(year=start.year + 1, day=28)


def _emails(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    emails = _list_of_objects(body, "emails")
    for email in emails:
        if not isinstance(email.get("value"), str) or not _EMAIL.match(email["value"]):
            raise ScimError(400, '"emails" values must be email addresses')
    return emails


def _group_ids(body: Mapping[str, Any], store: CrewStore) -> list[str]:
    group_ids: list[str] = []
    for item in _list_of_objects(body, "groups"):
        group_id = str(item.get("value", ""))
        if store.get_group(group_id) is None:
            raise ScimError(400, f'group "{group_id}" does not exist')
        group_ids.append(group_id)
    return group_ids


def _assignment(
    ext: Mapping[str, Any], *, store: CrewStore, now: datetime, existing: CrewMember | None
) -> tuple[str | None, str | None, date | None, date | None]:
    """Ship and contract dates: ``(ship_imo, ship_name, start, end)`` by Dualog's rules."""
    ship_imo = _string(ext, "shipImo")
    ship_name: str | None = None
    start = _date(ext, "contractStartDate")
    end = _date(ext, "contractEndDate")
    if ship_imo is not None:
        ship = store.get_ship(ship_imo)
        if ship is None:
            raise ScimError(400, f'"shipImo" {ship_imo} does not match a ship in the system')
        ship_name = ship.name
        if start is None:
            raise ScimError(400, '"contractStartDate" is required when "shipImo" is given')
    kept_start = existing is not None and existing.contract_start == start
    if start is not None and start < now.date() and not kept_start:
        raise ScimError(400, '"contractStartDate" must not be older than the current date')
    if start is not None and end is not None and end < start:
        raise ScimError(400, '"contractEndDate" must not be before "contractStartDate"')
    if start is not None and end is None:
        end = _one_year_after(start)
    return ship_imo, ship_name, start, end


def _password_hash(
    body: Mapping[str, Any], user_name: str, existing: CrewMember | None
) -> str | None:
    """A PUT without a password keeps the current one (``None`` for a passwordless user)."""
    password = _string(body, "password")
    if password is not None:
        _check_password(password)
        return hash_password(password)
    if existing is not None:
        return existing.password_hash
    # Dualog CMS guide: "A default password is set (same as email address)".
    return hash_password(user_name)


def user_from_scim(
    body: Any, *, store: CrewStore, now: datetime, existing: CrewMember | None, new_id: str
) -> CrewMember:
    """Validate a POST/PUT body and build the full replacement record.

    Dualog's rules: userName is an email; active, emails, groups, name and the crew
    extension (with ``userFields``) are required; ``shipImo`` must be a known ship;
    ``contractStartDate`` is required with ``shipImo`` and not in the past (a PUT may keep
    the stored start); the end is not before the start and defaults to start + 1 year;
    the password meets the policy; groups exist. ``phoneNumbers`` is optional (the CMS
    guide syncs a phone number; SCIM core attribute). PUT replaces: omitted fields are
    cleared (a password left out of a PUT keeps the current one).
    """
    if not isinstance(body, dict):
        raise ScimError(400, "the request body must be a JSON object")
    user_name = _string(body, "userName", required=True)
    assert user_name is not None
    if not _EMAIL.match(user_name):
        raise ScimError(400, '"userName" must be an email address with a valid domain')
    name = body.get("name")
    if not isinstance(name, dict):
        raise ScimError(400, '"name" is required with "givenName" and "familyName"')
    given = _string(name, "givenName", required=True)
    family = _string(name, "familyName", required=True)
    active = body.get("active")
    if not isinstance(active, bool):
        raise ScimError(400, '"active" is required and must be true or false')
    emails = _emails(body)
    group_ids = _group_ids(body, store)
    ext = body.get(EXT_URN)
    if not isinstance(ext, dict):
        raise ScimError(400, f'"{EXT_URN}" is required (at least an empty "userFields" array)')
    user_fields = _list_of_objects(ext, "userFields")
    ship_imo, ship_name, start, end = _assignment(ext, store=store, now=now, existing=existing)
    password_hash = _password_hash(body, user_name, existing)
    force = ext.get("forceChangePassword", False)
    if not isinstance(force, bool):
        raise ScimError(400, '"forceChangePassword" must be true or false')
    member = CrewMember(
        id=existing.id if existing else new_id,
        user_name=user_name,
        external_id=_string(body, "externalId"),
        given_name=str(given),
        family_name=str(family),
        display_name=_string(body, "displayName"),
        active=active,
        emails=tuple(dict(e) for e in emails),
        phone_numbers=_phone_numbers(body),
        rank=_string(ext, "rank"),
        department=_string(ext, "department"),
        ship_name=ship_name,
        ship_imo=ship_imo,
        contract_start=start,
        contract_end=end,
        force_change_password=force,
        user_fields=tuple(dict(f) for f in user_fields),
        groups=tuple(dict.fromkeys(group_ids)),
        password_hash=password_hash,
        created=existing.created if existing else now,
        last_modified=now,
    )
    return member


def group_from_scim(
    body: Any, *, store: CrewStore, now: datetime, existing: Group | None, new_id: str
) -> Group:
    """Validate a group POST/PUT body: ``displayName`` required, members must exist."""
    if not isinstance(body, dict):
        raise ScimError(400, "the request body must be a JSON object")
    display_name = _string(body, "displayName", required=True)
    members = body.get("members", [])
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        raise ScimError(400, '"members" must be an array of objects')
    ids: list[str] = []
    for item in members:
        user_id = str(item.get("value", ""))
        if store.get_user(user_id) is None:
            raise ScimError(400, f'member "{user_id}" does not exist')
        ids.append(user_id)
    group = Group(
        id=existing.id if existing else new_id,
        display_name=str(display_name),
        members=tuple(dict.fromkeys(ids)),
        created=existing.created if existing else now,
        last_modified=now,
    )
    return group
