"""SCIM filters (RFC 7644 §3.4.2.2), restricted to the attributes Dualog documents.

Supported: ``<attr> <op> "<value>"`` and ``<attr> pr``, joined by ``and``/``or`` (``and``
binds tighter), with optional parentheses. Attributes: userName, externalId, meta.created,
meta.lastModified, contractStartDate, contractEndDate (also with the extension URN prefix).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from .models import CrewMember

__all__ = ["FilterError", "parse_filter"]

EXT_URN = "urn:ietf:params:scim:schemas:extension:seafarer:2.0:User:crew"
_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|[^\s()"]+)')
_OPS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr")


class FilterError(ValueError):
    """The filter is malformed or uses an attribute Dualog cannot filter on."""


Predicate = Callable[[CrewMember], bool]


def _attribute(name: str) -> tuple[str, Callable[[CrewMember], Any]]:
    key = name.lower()
    if key.startswith(EXT_URN.lower() + ":"):
        key = key[len(EXT_URN) + 1 :]
    getters: dict[str, tuple[str, Callable[[CrewMember], Any]]] = {
        "username": ("text", lambda m: m.user_name),
        "externalid": ("exact", lambda m: m.external_id),
        "meta.created": ("datetime", lambda m: m.created),
        "meta.lastmodified": ("datetime", lambda m: m.last_modified),
        "contractstartdate": ("date", lambda m: m.contract_start),
        "contractenddate": ("date", lambda m: m.contract_end),
    }
    if key not in getters:
        raise FilterError(
            f"cannot filter on {name!r}; supported: userName, externalId, meta.created, "
            "meta.lastModified, contractStartDate, contractEndDate"
        )
    return getters[key]


def _convert(kind: str, raw: str) -> Any:
    try:
        if kind == "datetime":
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if value.tzinfo is None:
                raise FilterError(f"{raw!r} needs a time zone (e.g. Z)")
            return value
        if kind == "date":
            return date.fromisoformat(raw[:10])
    except ValueError as err:
        raise FilterError(f"{raw!r} is not a valid {kind}") from err
    return raw.lower() if kind == "text" else raw


def _compare(kind: str, op: str, actual: Any, expected: Any) -> bool:
    if actual is None:
        return op == "ne"
    if kind == "text":
        actual = str(actual).lower()
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op in ("co", "sw", "ew"):
        if kind in ("date", "datetime"):
            raise FilterError(f'"{op}" does not apply to dates')
        text, needle = str(actual), str(expected)
        return {"co": needle in text, "sw": text.startswith(needle), "ew": text.endswith(needle)}[
            op
        ]
    if kind not in ("date", "datetime"):
        raise FilterError(f'"{op}" applies to dates only')
    return bool(
        {
            "gt": actual > expected,
            "ge": actual >= expected,
            "lt": actual < expected,
            "le": actual <= expected,
        }[op]
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = [t for t in _TOKEN.findall(text) if t]
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise FilterError("the filter ends too early")
        self.pos += 1
        return token

    def expression(self) -> Predicate:
        return self._joined("or", self.term, lambda a, b: lambda m: a(m) or b(m))

    def term(self) -> Predicate:
        return self._joined("and", self.factor, lambda a, b: lambda m: a(m) and b(m))

    def _joined(
        self,
        word: str,
        operand: Callable[[], Predicate],
        join: Callable[[Predicate, Predicate], Predicate],
    ) -> Predicate:
        """``operand (word operand)*``, left-associative (``and`` binds tighter than ``or``:
        RFC 7644 §3.4.2.2)."""
        left = operand()
        while (self.peek() or "").lower() == word:
            self.take()
            left = join(left, operand())
        return left

    def factor(self) -> Predicate:
        token = self.take()
        if token == "(":
            inner = self.expression()
            if self.take() != ")":
                raise FilterError("a parenthesis is not closed")
            return inner
        if token.lower() == "not":
            raise FilterError('"not" is not supported')
        kind, getter = _attribute(token)
        op = self.take().lower()
        if op not in _OPS:
            raise FilterError(f"unknown operator {op!r}")
        if op == "pr":
            return lambda m: getter(m) not in (None, "")
        raw = self.take()
        if not (raw.startswith('"') and raw.endswith('"') and len(raw) >= 2):
            raise FilterError("filter values must be quoted strings")
        expected = _convert(kind, raw[1:-1].replace('\\"', '"'))
        if op in ("co", "sw", "ew") and kind in ("date", "datetime"):
            raise FilterError(f'"{op}" does not apply to dates')
        if op in ("gt", "ge", "lt", "le") and kind not in ("date", "datetime"):
            raise FilterError(f'"{op}" applies to dates only')
        return lambda m: _compare(kind, op, getter(m), expected)


def parse_filter(text: str) -> Predicate:
    """Compile a filter into a predicate on crew members, or raise ``FilterError``."""
    if len(text) > 1000:
        raise FilterError("the filter is too long")
    parser = _Parser(text)
    if not parser.tokens:
        raise FilterError("the filter is empty")
    predicate = parser.expression()
    if parser.peek() is not None:
        raise FilterError(f"unexpected {parser.peek()!r} in the filter")
    return predicate
