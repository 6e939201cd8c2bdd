"""``ScimClient``: Dualog's User API (SCIM 2.0) as typed calls.

A client may be shared by threads (the crew sync's workers): a 429 or ``Retry-After`` then
pauses all of them (``_backoff.SharedBackoff``), not only the one that got it.

Reads, PUTs and DELETEs are retried on 429/5xx/timeouts (honouring ``Retry-After``); a POST
is not: after a failed or unreadable POST the user is looked up by ``externalId`` or
``userName`` first, and only sent again if it is not there. Updates read the user, apply
the change and PUT the whole resource, because Dualog's PUT clears what it is not sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import Any, TypeVar, Unpack
from urllib.parse import quote

from .._clock import clock_from
from .._http import error_from_response
from ..errors import (
    ProviderResponseError,
    ValidationError,
)
from ._transport import Transport, TransportOptions, list_pages, readable_json
from .config import ScimConfig
from .filters import Filter
from .models import (
    Group,
    GroupMember,
    User,
    group_from_scim,
    group_to_scim,
    user_from_scim,
    user_to_scim,
)
from .validation import validate_user

__all__ = ["ScimClient"]

_R = TypeVar("_R")


def _segment(value: str, what: str) -> str:
    if not value or value in (".", ".."):
        raise ValidationError("id", f"{what} id {value!r} is empty or not an id")
    return quote(value, safe="")


class ScimClient:
    """A client of Dualog's User API.

    Args:
        config: base URL, credentials, scope, retry policy.
        today: the date validation compares contract dates with (UTC today by default).
        transport: ``oidc``, ``http``, ``sleep``, ``clock`` and ``rng``, handed to the
            ``Transport`` (see ``TransportOptions``): e.g. ``oidc=oidc_client`` takes
            client-credentials tokens from an ``OidcClient`` instead of ``config.token_url``.
    """

    def __init__(
        self,
        config: ScimConfig,
        *,
        today: Callable[[], date] | None = None,
        **transport: Unpack[TransportOptions],
    ) -> None:
        self.config = config
        self.transport = Transport(config, **transport)
        # One clock for token expiry and, unless ``today`` is given, contract dates.
        self.clock = clock_from(transport.get("clock"))
        self._today = today or (lambda: self.clock.now().date())

    def today(self) -> date:
        """The date contract rules are checked against."""
        return self._today()

    # -- URLs ----------------------------------------------------------------------------

    def _url(self, *parts: str) -> str:
        return "/".join([self.config.base_url, *parts])

    def _user_url(self, user_id: str) -> str:
        return self._url("Users", _segment(user_id, "user"))

    def _group_url(self, group_id: str) -> str:
        return self._url("Groups", _segment(group_id, "group"))

    # -- users ---------------------------------------------------------------------------

    def list_users(
        self, *, filter: Filter | None = None, page_size: int | None = None
    ) -> Iterator[User]:
        """Every user (matching ``filter``), fetched lazily page by page."""
        for item in list_pages(
            self.transport,
            self._url("Users"),
            "Users",
            filter=str(filter) if filter is not None else None,
            count=page_size or self.config.page_size,
        ):
            yield user_from_scim(item)

    def get_user(self, user_id: str) -> User:
        """One user by id.

        Raises:
            ProviderResponseError: status 404 when there is no such user.
        """
        body = self.transport.call("GET", self._user_url(user_id), what="SCIM get user")
        return user_from_scim(body)

    def find_user(
        self, *, external_id: str | None = None, user_name: str | None = None
    ) -> User | None:
        """The user with this ``externalId``, else with this ``userName``, or None."""
        if external_id:
            for user in self.list_users(filter=Filter.eq("externalId", external_id)):
                if user.external_id == external_id:
                    return user
        if user_name:
            for user in self.list_users(filter=Filter.eq("userName", user_name)):
                if user.user_name.lower() == user_name.lower():
                    return user
        return None

    def create_user(self, user: User, *, validate: bool = True) -> User:
        """POST a new user; return it as the server stored it.

        A POST is never resent blindly: after a network error, timeout, 5xx, 429 or an
        unreadable answer, the user is looked up by ``externalId``/``userName``; if it is
        there, the earlier POST worked and that user is returned, otherwise the POST is
        sent again (up to ``max_retries`` times).

        Raises:
            ValidationError: ``user`` breaks a Dualog rule (nothing sent).
            ProviderResponseError: the server refused (400, 403, 409...).
            ProviderUnavailableError: still failing after the retries.
        """
        if validate:
            validate_user(user, today=self.today())
        return self._post_safely(
            self._url("Users"),
            user_to_scim(user),
            what="SCIM create user",
            parse=user_from_scim,
            lookup=lambda: self._find_created(user),
            redact=(user.password,),
        )

    def _find_created(self, user: User) -> User | None:
        """The user an earlier POST of ``user`` created: same ``userName``, looked up by
        ``externalId`` first (the cheaper, exact match), then by ``userName``."""
        wanted = user.user_name.lower()
        filters = [Filter.eq("userName", user.user_name)]
        if user.external_id:
            filters.insert(0, Filter.eq("externalId", user.external_id))
        for search in filters:
            for found in self.list_users(filter=search):
                if found.user_name.lower() == wanted:
                    return found
        return None

    def _post_safely(
        self,
        url: str,
        body: dict[str, Any],
        *,
        what: str,
        parse: Callable[[Any], _R],
        lookup: Callable[[], _R | None],
        redact: tuple[str | None, ...] = (),
    ) -> _R:
        """POST ``body``; after a failure whose outcome is unknown, look before resending.

        A 5xx, 429, timeout or unreadable answer may hide a POST that worked (the answer
        was lost), so the resource is looked up first, after waiting (``Retry-After``, or
        backoff that gives a slow POST time to land), and sent again only if absent. A 409
        on a resend means the earlier POST landed after the lookup.
        """

        def attempt(retries: int) -> _R:
            response = self.transport.send_once("POST", url, what=what, json_body=body)
            if response.status_code == 409 and retries > 0:
                found = lookup()
                if found is not None:
                    return found
            if response.status_code not in (200, 201):
                # Servers echo rejected values; a password must not reach the message.
                raise error_from_response(response, what, redact=redact)
            return parse(readable_json(response, what))

        return self.transport.retrying(what, attempt, look=lookup)

    def replace_user(
        self, user: User, *, validate: bool = True, existing: User | None = None
    ) -> User:
        """PUT ``user`` as is. Dualog clears every attribute not sent: prefer :meth:`update_user`.

        Raises:
            ValidationError: ``user`` breaks a Dualog rule (nothing sent).
        """
        if user.id is None:
            raise ValidationError("id", "replace_user needs a user with an id")
        if validate:
            validate_user(user, today=self.today(), existing=existing)
        body = self.transport.call(
            "PUT",
            self._user_url(user.id),
            what="SCIM replace user",
            json_body=user_to_scim(user),
            redact=(user.password,),
        )
        return user_from_scim(body)

    def update_user(self, user_id: str, change: Callable[[User], User]) -> User:
        """Read the user, apply ``change`` and PUT the result, so nothing else is cleared.

        ``change`` gets the current user and returns the new one, typically with
        ``dataclasses.replace``. The password is never resent (Dualog keeps it).
        """
        current = self.get_user(user_id)
        wanted = change(current)
        if wanted.id != current.id:
            raise ValidationError("id", "update_user: the change must not alter the user id")
        return self.replace_user(wanted, existing=current)

    def delete_user(self, user_id: str) -> None:
        """DELETE a user (a 404 after a retry counts as done)."""
        self._delete(self._user_url(user_id), "SCIM delete user", missing_ok_on_retry=True)

    # -- groups --------------------------------------------------------------------------

    def list_groups(self, *, page_size: int | None = None) -> Iterator[Group]:
        """Every group, fetched lazily page by page."""
        for item in list_pages(
            self.transport,
            self._url("Groups"),
            "Groups",
            filter=None,
            count=page_size or self.config.page_size,
        ):
            yield group_from_scim(item)

    def get_group(self, group_id: str) -> Group:
        """One group by id."""
        body = self.transport.call("GET", self._group_url(group_id), what="SCIM get group")
        return group_from_scim(body)

    def find_group(self, display_name: str) -> Group | None:
        """The group with this ``displayName`` (case-insensitive), or None."""
        wanted = display_name.lower()
        for group in self.list_groups():
            if group.display_name.lower() == wanted:
                return group
        return None

    def create_group(self, display_name: str, *, members: tuple[str, ...] = ()) -> Group:
        """POST a group; like users, a failed POST is resent only if the group is absent."""
        if not display_name.strip():
            raise ValidationError("displayName", '"displayName" is required')
        group = Group(
            display_name=display_name, members=tuple(GroupMember(value=m) for m in members)
        )
        return self._post_safely(
            self._url("Groups"),
            group_to_scim(group),
            what="SCIM create group",
            parse=group_from_scim,
            lookup=lambda: self.find_group(display_name),
        )

    def replace_group(self, group: Group) -> Group:
        """PUT ``group`` (display name and the complete member list)."""
        if group.id is None:
            raise ValidationError("id", "replace_group needs a group with an id")
        body = self.transport.call(
            "PUT",
            self._group_url(group.id),
            what="SCIM replace group",
            json_body=group_to_scim(group),
        )
        return group_from_scim(body)

    def update_group(self, group_id: str, change: Callable[[Group], Group]) -> Group:
        """Read the group, apply ``change`` and PUT the result."""
        current = self.get_group(group_id)
        wanted = change(current)
        if wanted.id != current.id:
            raise ValidationError("id", "update_group: the change must not alter the group id")
        return self.replace_group(wanted)

    def delete_group(self, group_id: str) -> None:
        """DELETE a group (a 404 after a retry counts as done)."""
        self._delete(self._group_url(group_id), "SCIM delete group", missing_ok_on_retry=True)

    # -- membership (legacy route) -------------------------------------------------------

    def _membership_url(self, user_id: str, group_id: str) -> str:
        legacy = self.config.legacy_base_url or self.config.base_url
        return "/".join(
            [legacy, "Users", _segment(user_id, "user"), "Groups", _segment(group_id, "group")]
        )

    def add_to_group(self, user_id: str, group_id: str) -> None:
        """Add one group to a user without touching the others (legacy ``/api/v2`` PUT)."""
        self.transport.call(
            "PUT",
            self._membership_url(user_id, group_id),
            what="SCIM add group membership",
            ok=(200, 201, 204),
            parse=False,
        )

    def remove_from_group(self, user_id: str, group_id: str) -> None:
        """Remove one group from a user (legacy ``/api/v2`` DELETE)."""
        self._delete(self._membership_url(user_id, group_id), "SCIM remove group membership")

    # -- discovery -----------------------------------------------------------------------

    def _delete(self, url: str, what: str, *, missing_ok_on_retry: bool = False) -> None:
        self.transport.call(
            "DELETE",
            url,
            what=what,
            ok=(200, 204),
            parse=False,
            missing_ok_on_retry=missing_ok_on_retry,
        )

    def _get(self, url: str, what: str) -> dict[str, Any]:
        body = self.transport.call("GET", url, what=what)
        assert body is not None
        return body

    def endpoints(self) -> dict[str, Any]:
        """``GET /api/scim/v2``: the available endpoints."""
        return self._get(self.config.base_url, "SCIM discovery")

    def service_provider_config(self) -> dict[str, Any]:
        """``GET /ServiceProviderConfig`` (RFC 7644 §4)."""
        return self._get(self._url("ServiceProviderConfig"), "SCIM ServiceProviderConfig")

    def resource_types(self) -> list[dict[str, Any]]:
        """``GET /ResourceTypes``: the resources of the ListResponse."""
        return _resources(self._get(self._url("ResourceTypes"), "SCIM ResourceTypes"))

    def schemas(self) -> list[dict[str, Any]]:
        """``GET /Schemas``: User, the crew extension and Group."""
        return _resources(self._get(self._url("Schemas"), "SCIM Schemas"))


def _resources(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = body.get("Resources")
    if not isinstance(items, list):
        raise ProviderResponseError('SCIM discovery answer has no "Resources" list')
    return [dict(i) for i in items if isinstance(i, Mapping)]
