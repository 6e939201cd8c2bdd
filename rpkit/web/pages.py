"""What every web adapter says to people and scripts: safe ``next`` paths, whether a client
wants JSON, and the status, title and message of each refusal.

Framework-free: the adapters (``rpkit.flask``, ``rpkit.starlette``) read the request and
build the response; the words and the rules live here once, so every framework refuses
the same input with the same answer. Must not import a web framework.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote

from .._pending import is_local_path
from ..errors import (
    MISCONFIGURED,
    AuthenticationError,
    AuthorizationDeniedError,
    ClientRejectedError,
    ConfigurationError,
    InvalidGrantError,
    MetadataError,
    NotConfiguredError,
    ProviderError,
    ProviderUnavailableError,
    PublicAnswer,
    RpkitError,
    StoreUnavailableError,
    ValidationError,
)
from ..oauth.errors import setting_to_check as oauth_setting

__all__ = [
    "BEARER_CHALLENGE",
    "TEMPLATES",
    "TOKEN_REQUIRED",
    "Headers",
    "Refusal",
    "bearer_refusal",
    "bearer_token",
    "describe",
    "error_body",
    "plain_error_page",
    "refusal",
    "safe_next",
    "security_headers",
    "setting_to_check",
    "wants_json",
]

# rpkit's own pages (``rpkit/error.html``, ``rpkit/chooser.html``), Jinja, for every adapter.
TEMPLATES = Path(__file__).resolve().parent / "templates"

_MAX_NEXT = 2048


def safe_next(value: str | None, default: str = "/") -> str:
    """Return ``value`` if it is a path on this site, else raise ``ValidationError``.

    Refused: absolute URLs and schemes (``https:``, ``javascript:``), protocol-relative
    ``//host`` and ``/\\host`` (browsers read a backslash as a slash), control characters,
    and the same tricks percent-encoded once or twice (``/%2F%2Fhost``, ``%5C``).
    """
    if value is None or value == "":
        return default
    if len(value) > _MAX_NEXT:
        raise ValidationError("next", '"next" is too long')
    decoded = value
    for _ in range(3):
        _check_path(decoded)
        unquoted = unquote(decoded)
        if unquoted == decoded:
            break
        decoded = unquoted
    else:
        raise ValidationError("next", '"next" is encoded too many times')
    return value


def _check_path(value: str) -> None:
    if not is_local_path(value):
        raise ValidationError("next", '"next" must be a path on this site, like "/profile"')


class Headers(Protocol):
    """A request's headers, case-insensitive, as every framework has them."""

    def get(self, key: str, default: str, /) -> str: ...


def wants_json(headers: Headers) -> bool:
    """Whether the client wants JSON (``Accept``), is script (``X-Requested-With``) or
    presents a bearer token."""
    if headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
        return True
    if headers.get("Authorization", "").lower().startswith("bearer "):
        return True
    accept = _parse_accept(headers.get("Accept", ""))
    return _quality(accept, "application/json") > _quality(accept, "text/html")


def _parse_accept(value: str) -> list[tuple[str, float]]:
    entries = []
    for item in value.split(","):
        media, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, raw = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(raw), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        if media:
            entries.append((media.strip().lower(), quality))
    return entries


def _quality(accept: list[tuple[str, float]], media: str) -> float:
    """The highest quality of an ``Accept`` entry that matches ``media`` (wildcards too)."""
    kind = media.split("/", 1)[0]
    return max((q for value, q in accept if value in (media, f"{kind}/*", "*/*", "*")), default=0.0)


def setting_to_check(exc: RpkitError) -> str | None:
    """The setting an operator must fix when ``exc`` is the app's configuration, else None."""
    if isinstance(exc, ClientRejectedError):
        return exc.setting
    if isinstance(exc, AuthorizationDeniedError):
        return oauth_setting(exc.error, exc.error_description)
    return None


def describe(exc: RpkitError) -> tuple[int, str, str]:
    """Status, title and a message for people; never a token, assertion or secret.

    A refused login or token says what its error's ``public`` answer says, whatever the
    protocol: this function knows no protocol.
    """
    if setting_to_check(exc) is not None:
        return _answer(MISCONFIGURED)
    if isinstance(exc, InvalidGrantError):
        return (
            400,
            "Sign-in failed",
            (
                "Dualog Identity did not accept this sign-in answer (it was already used, "
                "expired or belongs to another sign-in). Please start the sign-in again."
            ),
        )
    if isinstance(exc, AuthenticationError):
        return _answer(exc.public)
    return _describe_other(exc)


def _answer(public: PublicAnswer) -> tuple[int, str, str]:
    return public.status, public.title, public.message


def _describe_other(exc: RpkitError) -> tuple[int, str, str]:
    if isinstance(exc, ValidationError):
        return 400, "Bad request", exc.message
    if isinstance(exc, StoreUnavailableError):
        # The app's own session store, not Dualog: nothing was signed in or out half-way.
        return (
            503,
            "Sign-in is unavailable for a moment",
            "The app cannot reach its session store right now. Please try again in a moment.",
        )
    if isinstance(exc, ProviderUnavailableError):
        return (
            503,
            "Dualog Identity is unreachable",
            (
                "The identity provider could not be reached. Check the connection and try again "
                "in a moment."
            ),
        )
    if isinstance(exc, MetadataError | ProviderError):
        return (
            502,
            "Dualog Identity answered unexpectedly",
            (
                "The identity provider's answer could not be used. Try again later or contact "
                "your administrator."
            ),
        )
    if isinstance(exc, NotConfiguredError):
        return 404, "Not available", exc.message
    return 400, "Request refused", "The request could not be completed."


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal as the client sees it: status, title, message and the public code."""

    status: int
    title: str
    message: str
    code: str


def refusal(exc: RpkitError, correlation_id: str, log: logging.Logger) -> Refusal:
    """Log ``exc`` with ``correlation_id`` and say what the client is told about it."""
    status, title, message = describe(exc)
    reason = getattr(exc, "reason", None)
    setting = setting_to_check(exc)
    log.warning(
        "rpkit: %s (%s%s) correlation_id=%s: %s%s",
        title,
        exc.code,
        f"/{reason}" if reason else "",
        correlation_id,
        exc.message,
        f"; check {setting}" if setting and setting not in exc.message else "",
    )
    # Why the provider is unreachable (a TLS or DNS detail) is for the log, not the client.
    public_reason = None if isinstance(exc, ProviderUnavailableError) else reason
    code = exc.code if public_reason is None else f"{exc.code}:{public_reason}"
    return Refusal(status, title, message, code)


# RFC 6750 §3: the challenge of a request without a bearer token, and its answer.
BEARER_CHALLENGE = 'Bearer realm="rpkit"'
TOKEN_REQUIRED = Refusal(401, "Token required", "Send a bearer access token.", "invalid_request")


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def bearer_refusal(exc: RpkitError, scopes: tuple[str, ...]) -> tuple[int, str] | None:
    """Status and ``WWW-Authenticate`` challenge for a refused access token (RFC 6750 §3):
    403 ``insufficient_scope`` for a missing scope, else 401 ``invalid_token``. None when
    the provider could not be reached: that answer (503) is not the token's fault."""
    if isinstance(exc, ProviderError):
        return None
    if getattr(exc, "reason", "") == "scope" and not isinstance(exc, ConfigurationError):
        scope = " ".join(scopes)
        return 403, f'{BEARER_CHALLENGE}, error="insufficient_scope", scope="{scope}"'
    return 401, f'{BEARER_CHALLENGE}, error="invalid_token"'


def error_body(code: str, title: str, message: str, correlation_id: str) -> dict[str, str]:
    """The JSON body of an error answer for API clients."""
    return {"error": code, "title": title, "message": message, "correlation_id": correlation_id}


def security_headers(
    content_security_policy: str, *, no_store: bool, correlation_id: str
) -> dict[str, str]:
    """The headers every answer carries unless it set its own (adapters add the missing
    ones). ``no_store``: the auth routes and signed-in pages must not be cached by shared
    proxies. The callback URL carries a code, so it must not leak through Referer."""
    headers = {
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Correlation-ID": correlation_id,
    }
    if "frame-ancestors" not in content_security_policy:
        # A page that names who may frame it (front-channel logout: the provider) keeps
        # that; every other page may be framed by nobody.
        headers["X-Frame-Options"] = "DENY"
    if no_store:
        headers["Cache-Control"] = "no-store"
    return headers


def plain_error_page(status: int, title: str, message: str, cid: str) -> str:
    """The built-in error page, used when the ``rpkit/error.html`` template cannot render
    (an app override with a bug): an error page must never turn into a 500."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>body{{font:16px/1.5 system-ui,sans-serif;"
        "max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1d2a38}h1{color:#8e1c10}"
        "code{background:#eef;padding:2px 4px}</style></head><body>"
        f'<h1 data-testid="error-title">{escape(title)}</h1>'
        f'<p data-testid="error-message">{escape(message)}</p>'
        f'<p>Error {status}. Correlation id: <code data-testid="correlation-id">{cid}</code></p>'
        '<p><a href="/">Back to the start page</a></p></body></html>'
    )
