"""Server-side sessions: the cookie carries a random id, everything else lives in the store.

A session record holds the identity, the protocol's logout data (ID token, OIDC ``sid``,
SAML NameID and SessionIndex) and a CSRF token. The store key is the SHA-256 of the id, so
a dump of the store yields no usable cookie. Indexes by ``(issuer, sub)``, ``(issuer,
sid)`` and SAML ``(issuer, NameID)`` let back-channel and IdP-initiated logout end sessions
that arrive without the browser's cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .._clock import Clock
from ..identity import CrewIdentity
from ..store import Batch, StateStore

__all__ = ["NewSession", "ServerSession", "SessionStore"]

# Key names from when the store was the Flask extension's: kept, so that live sessions
# survive an upgrade and every framework's processes share them.
_SESSION = "flask:session:"
# A sorted set per index; a new name, so the JSON lists kept under "flask:index:" by
# earlier versions are never read as sets (Redis would answer WRONGTYPE).
_INDEX = "flask:sessions-of:"
_SID_BYTES = 32


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerSession:
    """One signed-in browser.

    ``created_at`` is when the browser signed in, an aware UTC ``datetime``.
    """

    key: str  # SHA-256 of the cookie value: the store key, never the cookie itself
    identity: CrewIdentity
    csrf_token: str
    created_at: datetime
    protocol_data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> Literal["oidc", "saml"]:
        return self.identity.protocol

    def to_json(self) -> bytes:
        identity = self.identity.to_dict()
        identity["name"] = self.identity.name
        identity["email_verified"] = self.identity.email_verified
        return json.dumps(
            {
                "identity": identity,
                "csrf_token": self.csrf_token,
                "created_at": self.created_at.isoformat(),
                "protocol_data": dict(self.protocol_data),
            }
        ).encode()

    @classmethod
    def from_json(cls, key: str, data: bytes) -> ServerSession:
        values = json.loads(data)
        return cls(
            key=key,
            identity=CrewIdentity(**values["identity"]),
            csrf_token=values["csrf_token"],
            created_at=_instant(values["created_at"]),
            protocol_data=values.get("protocol_data") or {},
        )

    def check_csrf(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (constant time)."""
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf_token.encode())


def _instant(value: object) -> datetime:
    """A stored ``created_at``: aware ISO 8601, or epoch seconds as rpkit 0.1 wrote it (a
    session in Redis outlives a deploy). Anything else raises ``ValueError``/``TypeError``,
    which :meth:`SessionStore.load` treats as a malformed record."""
    if isinstance(value, str):
        instant = datetime.fromisoformat(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            instant = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError) as err:  # past the platform's time_t, NaN
            raise ValueError("created_at is out of range") from err
    else:
        raise TypeError("created_at is neither ISO 8601 nor epoch seconds")
    if instant.tzinfo is None:
        raise ValueError("created_at has no time zone")
    return instant


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session ready to be written: the cookie value, the record and the store writes."""

    session_id: str = field(repr=False)
    record: ServerSession
    batch: Batch


class SessionStore:
    """Create, load and end sessions in a ``StateStore`` shared by every app process.

    A login writes its session and files it under the user's index (and the OIDC ``sid``)
    in one ``Batch``: one round trip on Redis, and the index is never read at login, so
    a shared crew account logging in all day costs the same as distinct users.
    """

    def __init__(
        self, store: StateStore, *, lifetime: timedelta, clock: Clock | None = None
    ) -> None:
        self.store = store
        self.lifetime = lifetime
        # This machine's time: ``created_at`` of the sessions it starts.
        self.clock = clock if clock is not None else Clock()

    @staticmethod
    def key_of(session_id: str) -> str:
        return _digest("session", session_id)

    def prepare(
        self,
        identity: CrewIdentity,
        *,
        protocol_data: Mapping[str, Any] | None = None,
        replaces: ServerSession | None = None,
    ) -> NewSession:
        """Build a new session and the writes that store it (and end ``replaces``)."""
        session_id = secrets.token_urlsafe(_SID_BYTES)
        record = ServerSession(
            key=self.key_of(session_id),
            identity=identity,
            csrf_token=secrets.token_urlsafe(32),
            created_at=self.clock.now(),
            protocol_data=dict(protocol_data or {}),
        )
        batch = Batch()
        if replaces is not None:
            self._end_writes(batch, replaces)
        batch.set(_SESSION + record.key, record.to_json(), self.lifetime)
        for index in self._indexes(record):
            batch.index_add(_INDEX + index, _SESSION + record.key, self.lifetime)
        return NewSession(session_id=session_id, record=record, batch=batch)

    def create(
        self, identity: CrewIdentity, *, protocol_data: Mapping[str, Any] | None = None
    ) -> tuple[str, ServerSession]:
        """Start a new session; return the cookie value and the record."""
        new = self.prepare(identity, protocol_data=protocol_data)
        self.store.commit(new.batch)
        return new.session_id, new.record

    def load(self, session_id: str | None) -> ServerSession | None:
        """The live session for a cookie value, or None (unknown, expired, malformed)."""
        if not session_id or len(session_id) > 128:
            return None
        key = self.key_of(session_id)
        data = self.store.get(_SESSION + key)
        if data is None:
            return None
        try:
            return ServerSession.from_json(key, data)
        except (ValueError, KeyError, TypeError):
            self.store.delete(_SESSION + key)
            return None

    def end(self, record: ServerSession) -> None:
        """End one session and unfile it from its indexes (one round trip)."""
        batch = Batch()
        self._end_writes(batch, record)
        self.store.commit(batch)

    def end_by_index(self, *parts: str) -> int:
        """End every session filed under ``parts`` atomically; return how many were live."""
        return self.store.end_indexed(_INDEX + _digest(*parts))

    def find_by_index(self, *parts: str) -> list[ServerSession]:
        found = []
        for key, raw in self.store.indexed(_INDEX + _digest(*parts)):
            try:
                found.append(ServerSession.from_json(key.removeprefix(_SESSION), raw))
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def _end_writes(self, batch: Batch, record: ServerSession) -> None:
        batch.delete(_SESSION + record.key)
        for index in self._indexes(record):
            batch.index_remove(_INDEX + index, _SESSION + record.key)

    def _indexes(self, record: ServerSession) -> list[str]:
        identity, data = record.identity, record.protocol_data
        indexes = [_digest(*sub_index(identity.protocol, identity.issuer, identity.subject))]
        if identity.protocol == "oidc" and data.get("sid"):
            indexes.append(_digest(*sid_index(identity.issuer, str(data["sid"]))))
        return indexes


def sub_index(protocol: str, issuer: str, subject: str) -> tuple[str, ...]:
    """The index parts for every session of one user."""
    return ("sub", protocol, issuer, subject)


def sid_index(issuer: str, sid: str) -> tuple[str, ...]:
    """The index parts for the sessions of one OIDC provider session."""
    return ("sid", issuer, sid)
