"""SCIM filter expressions (RFC 7644 §3.4.2.2) on the attributes Dualog documents.

Values are quoted as JSON strings, so a quote or backslash in an email or employee id
cannot change the expression. Only the attributes the User API guide lists ("Fetching
Users": userName, externalId, meta.created, meta.lastModified, contractStartDate,
contractEndDate) can be used; anything else raises ``ValidationError`` before sending.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import ValidationError

__all__ = ["FILTER_ATTRIBUTES", "FILTER_OPERATORS", "Filter", "quote_filter_value"]

FILTER_ATTRIBUTES = (
    "userName",
    "externalId",
    "meta.created",
    "meta.lastModified",
    "contractStartDate",
    "contractEndDate",
)
FILTER_OPERATORS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
_DATES = {"contractStartDate": r"[0-9]{4}-[0-9]{2}-[0-9]{2}"}
_DATES["contractEndDate"] = _DATES["contractStartDate"]
_DATETIME = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_ORDERED = ("gt", "ge", "lt", "le")


def quote_filter_value(value: str) -> str:
    """Return ``value`` as a SCIM filter string literal (a JSON string, RFC 7644 §3.4.2.2)."""
    if not isinstance(value, str):
        raise ValidationError("filter", "filter values must be strings")
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Filter:
    """A filter built only from documented attributes; ``str()`` is the expression."""

    expression: str

    def __str__(self) -> str:
        return self.expression

    @classmethod
    def where(cls, attribute: str, operator: str, value: str) -> Filter:
        """``<attribute> <operator> "<value>"``, checked against Dualog's documented set.

        Raises:
            ValidationError: unknown attribute or operator, or a malformed date value.
        """
        if attribute not in FILTER_ATTRIBUTES:
            raise ValidationError(
                "filter",
                f"cannot filter on {attribute!r}; Dualog supports {', '.join(FILTER_ATTRIBUTES)}",
            )
        if operator not in FILTER_OPERATORS:
            raise ValidationError("filter", f"unknown filter operator {operator!r}")
        if attribute in _DATES and not re.fullmatch(_DATES[attribute], value):
            raise ValidationError("filter", f"{attribute} values must be yyyy-MM-dd")
        if attribute.startswith("meta.") and not re.fullmatch(_DATETIME, value):
            raise ValidationError("filter", f"{attribute} values must be RFC 3339 date-times")
        dated = attribute in _DATES or attribute.startswith("meta.")
        if operator in _ORDERED and not dated:
            raise ValidationError("filter", f'"{operator}" compares dates only')
        if operator in ("co", "sw", "ew") and dated:
            raise ValidationError("filter", f'"{operator}" does not apply to dates')
        return cls(f"{attribute} {operator} {quote_filter_value(value)}")

    @classmethod
    def eq(cls, attribute: str, value: str) -> Filter:
        """``<attribute> eq "<value>"``."""
        return cls.where(attribute, "eq", value)

    def and_(self, other: Filter) -> Filter:
        """Both filters (parenthesised)."""
        return Filter(f"({self.expression}) and ({other.expression})")

    def or_(self, other: Filter) -> Filter:
        """Either filter (parenthesised)."""
        return Filter(f"({self.expression}) or ({other.expression})")
