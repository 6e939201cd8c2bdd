"""Per-login and per-session SAML state: frozen data the caller stores and hands back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from .._pending import BrowserCookie, check_return_to
from ..errors import SamlResponseError
from ..identity import CrewIdentity

__all__ = [
    "BrowserCookie",
    "LoginRequest",
    "LogoutRequest",
    "LogoutResult",
    "PendingLogout",
    "PendingRequest",
    "SamlSession",
    "SignedMessage",
    "check_return_to",
]

Binding = Literal["redirect", "post"]


@dataclass(frozen=True, kw_only=True, slots=True)
class _InFlight:
    """A request this SP sent, awaiting the IdP's answer.

    Stored server-side under ``relay_state`` (an opaque random key, never a URL) by
    ``rpkit._pending``, single-use.
    """

    request_id: str
    relay_state: str
    created_at: datetime
    return_to: str = "/"


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingRequest(_InFlight):
    """An AuthnRequest in flight: what the ACS must see come back.

    Bound to the browser that started it by the SHA-256 of a cookie value
    (``browser_hash``).
    """

    browser_hash: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingLogout(_InFlight):
    """An SP-initiated LogoutRequest in flight."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SamlSession:
    """What logout needs from a login: the NameID as issued and the SessionIndex."""

    issuer: str
    name_id: str
    name_id_format: str | None = None
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None
    session_index: str | None = None

    @classmethod
    def from_identity(cls, identity: CrewIdentity) -> SamlSession:
        """Take the session fields rpkit put into ``identity.claims`` at the ACS."""
        if identity.protocol != "saml":
            raise SamlResponseError("session", "identity did not come from a SAML login")
        claims: Mapping[str, Any] = identity.claims
        return cls(
            issuer=identity.issuer,
            name_id=identity.subject,
            name_id_format=claims.get("name_id_format"),
            name_qualifier=claims.get("name_qualifier"),
            sp_name_qualifier=claims.get("sp_name_qualifier"),
            session_index=claims.get("session_index"),
        )

    def to_dict(self) -> dict[str, str | None]:
        # Not dataclasses.asdict: its recursive deep copy is a cost on every login.
        return {f: getattr(self, f) for f in _SESSION_FIELDS}


_SESSION_FIELDS = tuple(f.name for f in fields(SamlSession))


@dataclass(frozen=True, kw_only=True, slots=True)
class SignedMessage:
    """An outgoing SAML message: a redirect ``url``, or a POST ``form_action`` + ``form``."""

    binding: Binding
    url: str | None = None
    form_action: str | None = None
    form: Mapping[str, str] | None = None

    def form_html(self) -> str:
        """A self-submitting HTML form for the HTTP-POST binding (SAML Bindings §3.5.4)."""
        from html import escape

        if self.form_action is None or self.form is None:
            raise ValueError("not an HTTP-POST message")
        inputs = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(v)}"/>'
            for k, v in self.form.items()
        )
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Continue</title></head>'
            '<body onload="document.forms[0].submit()">'
            f'<form method="post" action="{escape(self.form_action)}">{inputs}'
            '<noscript><button type="submit">Continue</button></noscript></form></body></html>'
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginRequest:
    """What :meth:`ServiceProvider.start_login` returns.

    Send ``message`` (redirect to ``message.url`` or render ``message.form_html()``) and
    set ``cookie``. ``pending`` is already stored under ``pending.relay_state``.
    """

    message: SignedMessage
    cookie: BrowserCookie
    pending: PendingRequest


@dataclass(frozen=True, kw_only=True, slots=True)
class LogoutRequest:
    """What :meth:`ServiceProvider.start_logout` returns; ``message`` is None for local logout."""

    message: SignedMessage | None
    pending: PendingLogout | None


@dataclass(frozen=True, kw_only=True, slots=True)
class LogoutResult:
    """An IdP-initiated logout that passed every check: end the session, send ``message``."""

    message: SignedMessage
    request_id: str
    #: True when the request named no SessionIndex: end every session of this NameID
    #: (SAML Core §3.7.3.2), not only the one it was checked against.
    all_sessions: bool = False
