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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from ..identity import CrewIdentity
from ..store import StateStore

__all__ = ["ServerSession", "SessionStore"]

_SESSION = "flask:session:"
_INDEX = "flask:index:"
_SID_BYTES = 32


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerSession:
    """One signed-in browser."""

    key: str  # SHA-256 of the cookie value: the store key, never the cookie itself
    identity: CrewIdentity
    csrf_token: str
    created_at: float
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
                "created_at": self.created_at,
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
            created_at=float(values["created_at"]),
            protocol_data=values.get("protocol_data") or {},
        )

    def check_csrf(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (constant time)."""
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf_token.encode())


class SessionStore:
    """Create, load and end sessions in a ``StateStore`` shared by every app process."""

    def __init__(self, store: StateStore, *, lifetime: timedelta) -> None:
        self.store = store
        self.lifetime = lifetime

    @staticmethod
    def key_of(session_id: str) -> str:
        return _digest("session", session_id)

    def create(
        self, identity: CrewIdentity, *, protocol_data: Mapping[str, Any] | None = None
    ) -> tuple[str, ServerSession]:
        """Start a new session; return the cookie value and the record."""
        session_id = secrets.token_urlsafe(_SID_BYTES)
        record = ServerSession(
            key=self.key_of(session_id),
            identity=identity,
            csrf_token=secrets.token_urlsafe(32),
            created_at=time.time(),
            protocol_data=dict(protocol_data or {}),
        )
        self.store.set(_SESSION + record.key, record.to_json(), self.lifetime)
        for index in self._indexes(record):
            self._index_add(index, record.key)
        return session_id, record

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
        self.store.delete(_SESSION + record.key)

    def end_by_index(self, *parts: str) -> int:
        """End every session filed under ``parts``; return how many were live."""
        index = _digest(*parts)
        data = self.store.pop(_INDEX + index)
        ended = 0
        for key in json.loads(data) if data else []:
            if self.store.pop(_SESSION + key) is not None:
                ended += 1
        return ended

    def find_by_index(self, *parts: str) -> list[ServerSession]:
        data = self.store.get(_INDEX + _digest(*parts))
        found = []
        for key in json.loads(data) if data else []:
            raw = self.store.get(_SESSION + key)
            if raw is not None:
                found.append(ServerSession.from_json(key, raw))
        return found

    def _indexes(self, record: ServerSession) -> list[str]:
        identity, data = record.identity, record.protocol_data
        indexes = [_digest("sub", identity.protocol, identity.issuer, identity.subject)]
        if identity.protocol == "oidc" and data.get("sid"):
            indexes.append(_digest("sid", identity.issuer, str(data["sid"])))
        return indexes

    def _index_add(self, index: str, key: str) -> None:
        # Read-modify-write: a lost update only leaves a session to expire on its own.
        data = self.store.get(_INDEX + index)
        keys = [k for k in (json.loads(data) if data else []) if self.store.get(_SESSION + k)]
        keys.append(key)
        self.store.set(_INDEX + index, json.dumps(keys[-50:]).encode(), self.lifetime)


def sub_index(protocol: str, issuer: str, subject: str) -> tuple[str, ...]:
    """The index parts for every session of one user."""
    return ("sub", protocol, issuer, subject)


def sid_index(issuer: str, sid: str) -> tuple[str, ...]:
    """The index parts for the sessions of one OIDC provider session."""
    return ("sid", issuer, sid)
