"""Pending logins: single-use, browser-bound entries in the ``StateStore``.

One home for what the OIDC client and the SAML service provider both keep between the
redirect to the identity provider and the answer: the pending login is stored under the
hash of its key (OIDC ``state``, SAML ``RelayState``), with one lifetime, serialized one
way, and bound to the browser that started it by the SHA-256 of a cookie value. Taking
it removes it first (atomic ``pop``), so a callback that leaked to another browser burns
the login instead of leaving it for a retry.

Owns: the browser-token format and its hash, the store key and value format of pending
logins, their lifetime, the take-once and browser checks, the local-path rule of
``return_to``.

Must not import: anything of rpkit but ``rpkit.errors`` and ``rpkit.store`` (it knows no
protocol and no web framework).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import re
import secrets
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar, cast
from urllib.parse import urlsplit

from .errors import AuthenticationError, ValidationError
from .store import Batch, Committed, StateStore

__all__ = [
    "BrowserCookie",
    "PendingStore",
    "Refusals",
    "browser_hash",
    "check_return_to",
    "cookie_value",
    "digest",
    "dump",
    "is_local_path",
    "is_token",
    "load",
    "new_key",
]

# 32 random bytes, URL-safe base64 without padding: the shape of every key and cookie
# value minted here. Anything else (a URL as RelayState, a guessed short value) is not ours.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def is_token(value: str | None) -> bool:
    """Whether ``value`` has the shape of a key or browser token minted here."""
    return bool(value) and _TOKEN.match(value or "") is not None


def new_key() -> str:
    """A fresh random key (SAML RelayState, a browser token)."""
    return secrets.token_urlsafe(32)


def cookie_value(current: str | None) -> str:
    """The browser's binding cookie value: kept when well-formed (logins in two tabs both
    complete), else a new one."""
    return current if current is not None and is_token(current) else new_key()


def digest(value: str) -> str:
    """SHA-256 in hex: what the store keeps of a bearer value (a key, a browser token)."""
    return hashlib.sha256(value.encode()).hexdigest()


#: What a pending login keeps of the browser's cookie value: its hash, never the value.
browser_hash = digest


@dataclass(frozen=True, kw_only=True, slots=True)
class BrowserCookie:
    """The cookie that binds a pending login to the browser that started it.

    An answer that comes back as a cross-site POST (the SAML ACS, OIDC ``form_post``) does
    not carry the app's ``SameSite=Lax`` cookies, so there this cookie is ``SameSite=None;
    Secure; HttpOnly``; a redirect back (OIDC ``query``) is a top-level GET, which carries
    ``Lax``. It is scoped to the answer's path, short-lived, and carries no session.
    """

    name: str
    value: str
    path: str
    max_age: int
    samesite: Literal["None", "Lax"] = "None"
    secure: bool = True
    httponly: bool = True

    @property
    def cross_site_post(self) -> bool:
        """Whether it must ride a cross-site POST (``SameSite=None``)."""
        return self.samesite == "None"

    def header_value(self) -> str:
        """The ``Set-Cookie`` header value."""
        return (
            f"{self.name}={self.value}; Path={self.path}; Max-Age={self.max_age}; "
            f"SameSite={self.samesite}; Secure; HttpOnly"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Refusals:
    """The protocol's error and reason codes for a pending login that cannot be taken."""

    error: Callable[[str, str], AuthenticationError]
    #: the answer names no key
    missing: str
    #: no pending login under that key (or a key of another shape): expired, forged, used
    unknown: str
    #: the login was started in another browser (or the cookie is gone)
    browser: str = "browser_binding"
    what: str = "login"


P = TypeVar("P")


class PendingStore(Generic[P]):
    """Pending requests of one kind (``cls``) in ``store``, under ``prefix`` + hash of the key.

    ``put`` writes one for ``ttl``; ``take`` removes it (single use); ``take_bound`` also
    checks that the browser presenting the answer is the one that started it, against the
    ``browser_hash`` field of the stored value.
    """

    def __init__(
        self,
        store: Callable[[], StateStore],
        cls: type[P],
        *,
        prefix: str,
        ttl: timedelta,
        refusals: Refusals,
    ) -> None:
        # A getter: the owner's store may be swapped after construction (a shared store).
        self._store = store
        self.cls = cls
        self.prefix = prefix
        self.ttl = ttl
        self.refusals = refusals

    def _key(self, key: str) -> str:
        # Hashed: the key is a bearer value (state, RelayState) and store keys show up in
        # monitoring (Redis MONITOR, KEYS) where values do not.
        return self.prefix + digest(key)

    def put(self, key: str, pending: P) -> None:
        self._store().set(self._key(key), dump(pending), self.ttl)

    def _unknown(self) -> AuthenticationError:
        refusals = self.refusals
        return refusals.error(
            refusals.unknown, f"the {refusals.what} is unknown, expired or was already completed"
        )

    def _other_browser(self) -> AuthenticationError:
        refusals = self.refusals
        return refusals.error(
            refusals.browser, f"the {refusals.what} was started in another browser"
        )

    def checked_key(self, key: str | None) -> str:
        """``key`` when it has our shape; else the protocol's ``missing`` (no key) or
        ``unknown`` (a key not of our shape, never looked up)."""
        if not key:
            refusals = self.refusals
            raise refusals.error(refusals.missing, f"the answer names no pending {refusals.what}")
        if not is_token(key):
            raise self._unknown()
        return key

    def take(self, key: str | None) -> P:
        """Remove and return the pending request under ``key``: it works once.

        Raises the protocol's error (``refusals``): ``missing`` for no key, ``unknown``
        when none is stored (expired, forged, used; a key not of our shape is never
        looked up).
        """
        stored = self._store().pop(self._key(self.checked_key(key)))
        if stored is None:
            raise self._unknown()
        return load(self.cls, stored)

    def take_bound(self, key: str | None, *, browser_token: str | None) -> P:
        """:meth:`take`, then refuse (``refusals.browser``) unless ``browser_token`` is the
        cookie of the browser that started it. Taken first: a callback that leaked to
        another browser burns the login."""
        pending = self.take(key)
        expected = getattr(pending, "browser_hash", None)
        if (
            not browser_token
            or not isinstance(expected, str)
            or not hmac.compare_digest(browser_hash(browser_token), expected)
        ):
            raise self._other_browser()
        return pending

    def take_in(
        self, batch: Batch, key: str, *, browser_token: str | None, fields: dict[str, str]
    ) -> Batch:
        """Add to ``batch`` the take of the pending request under ``key`` (a
        ``checked_key``), bound to ``browser_token`` and to ``fields`` of the stored value:
        the take-once of :meth:`take_bound`, done by ``TakingStore.commit_taking`` with
        the caller's writes in one round trip. Read the outcome with :meth:`taken`."""
        # No cookie: an expected hash no stored value has, so the take burns and refuses.
        bound = browser_hash(browser_token) if browser_token else ""
        return batch.take(self._key(key), {"browser_hash": bound, **fields})

    def taken(self, committed: Committed, reasons: dict[str, str]) -> P:
        """The pending request a ``commit_taking`` of a :meth:`take_in` batch removed.

        Raises the protocol's error: ``unknown`` (none stored), ``browser`` (another
        browser), ``reasons[field]`` for another field that did not match. Name the
        refusals of your own batch entries (``"guard"``) before calling this.
        """
        why = committed.refused
        if why == "missing":
            raise self._unknown()
        if why == "browser_hash":
            raise self._other_browser()
        if why is not None and why in reasons:
            raise self.refusals.error(
                reasons[why], f"the answer does not match the pending {self.refusals.what}"
            )
        if not committed.taken:
            raise self._unknown()
        return load(self.cls, committed.taken[0])


def is_local_path(value: str) -> bool:
    """Whether ``value`` is a path on this site: ``/x``, not ``//host``, ``/\\host``, a URL,
    a backslash anywhere (browsers read it as a slash) or a control character."""
    parts = urlsplit(value)
    return not (
        not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    )


def check_return_to(return_to: str) -> str:
    """Accept only a path on this site (:func:`is_local_path`) to return to after a login."""
    if not is_local_path(return_to):
        raise ValidationError("return_to", "return_to must be a path on this site")
    return return_to


_T = TypeVar("_T")


def dump(value: Any) -> bytes:
    """A frozen dataclass as JSON: datetimes as ISO 8601, tuples as lists."""
    values = dataclasses.asdict(value)
    for name, item in values.items():
        if isinstance(item, datetime):
            values[name] = item.isoformat()
    return json.dumps(values).encode()


@functools.cache
def _restored(cls: type) -> tuple[frozenset[str], frozenset[str]]:
    """The names of ``cls``'s datetime fields and tuple fields: resolved once per class
    (``get_type_hints`` evaluates the string annotations, a cost on every login)."""
    hints = typing.get_type_hints(cls)
    return (
        frozenset(name for name, hint in hints.items() if hint is datetime),
        frozenset(name for name, hint in hints.items() if typing.get_origin(hint) is tuple),
    )


def load(cls: type[_T], data: bytes | str) -> _T:
    """The dataclass ``dump`` wrote, its datetime and tuple fields restored by their types
    (a datetime field also from epoch seconds)."""
    values: dict[str, Any] = json.loads(data)
    datetimes, tuples = _restored(cast(type, cls))
    for name, item in values.items():
        if name in datetimes and isinstance(item, str):
            values[name] = datetime.fromisoformat(item)
        elif name in datetimes and isinstance(item, int | float) and not isinstance(item, bool):
            # Epoch seconds: how rpkit 0.1 stored OIDC ``created_at`` (a login in flight
            # across a deploy still completes).
            values[name] = datetime.fromtimestamp(item, UTC)
        elif name in tuples and isinstance(item, list):
            values[name] = tuple(item)
    return cls(**values)
