"""SCIM discovery documents (RFC 7643 §5-7) describing Dualog's User API."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ERROR_SCHEMA",
    "EXT_URN",
    "GROUP_URN",
    "LIST_URN",
    "USER_URN",
    "resource_types",
    "schemas",
    "service_provider_config",
]

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
EXT_URN = "urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
_SPC_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
_RT_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
_SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def _attr(
    name: str,
    type_: str = "string",
    *,
    required: bool = False,
    multi: bool = False,
    mutability: str = "readWrite",
    returned: str = "default",
    uniqueness: str = "none",
    case_exact: bool = False,
    sub: list[dict[str, Any]] | None = None,
    description: str = "",
    reference_types: list[str] | None = None,
) -> dict[str, Any]:
    attr: dict[str, Any] = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": description or name,
        "required": required,
        "caseExact": case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    }
    if sub is not None:
        attr["subAttributes"] = sub
    if reference_types is not None:
        attr["referenceTypes"] = reference_types
    return attr


def _contact_parts() -> list[dict[str, Any]]:
    """The sub-attributes of ``emails`` and ``phoneNumbers`` (RFC 7643 §4.1.2)."""
    return [_attr("value"), _attr("display"), _attr("type"), _attr("primary", "boolean")]


def _schema(urn: str, name: str, description: str, attributes: list[Any]) -> dict[str, Any]:
    """A Schema resource (RFC 7643 §7); ``schemas`` adds the base URL to its location."""
    return {
        "id": urn,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"/Schemas/{urn}"},
    }


def _user_schema() -> dict[str, Any]:
    return _schema(
        USER_URN,
        "User",
        "User account",
        [
            _attr(
                "userName",
                required=True,
                uniqueness="server",
                description="Email address; becomes the login",
            ),
            _attr("externalId", case_exact=True, description="Identifier in the CMS"),
            _attr(
                "name",
                "complex",
                required=True,
                sub=[
                    _attr("givenName", required=True),
                    _attr("familyName", required=True),
                ],
            ),
            _attr("displayName"),
            _attr("active", "boolean", required=True),
            _attr("password", mutability="writeOnly", returned="never"),
            _attr(
                "emails",
                "complex",
                multi=True,
                required=True,
                sub=_contact_parts(),
            ),
            _attr(
                "phoneNumbers",
                "complex",
                multi=True,
                description="Phone numbers (the CMS guide: for SMS-based MFA and password reset)",
                sub=_contact_parts(),
            ),
            _attr(
                "groups",
                "complex",
                multi=True,
                required=True,
                sub=[
                    _attr("value"),
                    _attr("display", mutability="readOnly"),
                ],
            ),
        ],
    )


def _extension_schema() -> dict[str, Any]:
    return _schema(
        EXT_URN,
        "Crew",
        "Dualog seafarer extension",
        [
            _attr("rank"),
            _attr("department"),
            _attr("shipName", mutability="readOnly", description="Name of the assigned ship"),
            _attr("shipImo", description="IMO number of a ship known to Dualog"),
            _attr("contractStartDate", description="yyyy-MM-dd; required with shipImo"),
            _attr("contractEndDate", description="yyyy-MM-dd; default start + 1 year"),
            _attr("forceChangePassword", "boolean"),
            _attr(
                "userFields",
                "complex",
                multi=True,
                required=True,
                sub=[_attr("key"), _attr("value")],
            ),
        ],
    )


def _group_schema() -> dict[str, Any]:
    return _schema(
        GROUP_URN,
        "Group",
        "User group",
        [
            _attr("displayName", required=True, uniqueness="server"),
            _attr(
                "members",
                "complex",
                multi=True,
                sub=[
                    _attr("value", mutability="immutable"),
                    _attr("display", mutability="readOnly"),
                    _attr("type", mutability="immutable"),
                ],
            ),
        ],
    )


def schemas(base: str) -> list[dict[str, Any]]:
    """The User, seafarer extension and Group schemas, with absolute locations."""
    items = [_user_schema(), _extension_schema(), _group_schema()]
    for item in items:
        item["schemas"] = [_SCHEMA_URN]
        item["meta"]["location"] = base + item["meta"]["location"]
    return items


def resource_types(base: str) -> list[dict[str, Any]]:
    """The User and Group resource types."""
    return [
        {
            "schemas": [_RT_URN],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_URN,
            "schemaExtensions": [{"schema": EXT_URN, "required": True}],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        },
        {
            "schemas": [_RT_URN],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_URN,
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    ]


def service_provider_config(base: str) -> dict[str, Any]:
    """What the API supports: filter yes; PATCH, bulk, sort, ETags, password change no."""
    return {
        "schemas": [_SPC_URN],
        "documentationUri": "https://apps.dualog.com/api/cd-customer-scim-public-api/index.html",
        "patch": {"supported": False},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": 1000},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Client-credentials token with scope crew_import or crew_read",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base}/ServiceProviderConfig",
        },
    }
