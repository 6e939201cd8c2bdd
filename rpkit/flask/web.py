"""Request helpers: safe ``next`` paths, API detection, correlation ids, error responses."""

from __future__ import annotations

import logging
import re
import uuid
from html import escape
from urllib.parse import unquote, urlsplit

from flask import Response, g, jsonify, render_template, request

from ..errors import (
    AuthenticationError,
    AuthorizationDeniedError,
    CallbackError,
    ClientRejectedError,
    ConfigurationError,
    InvalidGrantError,
    MetadataError,
    ProviderError,
    ProviderUnavailableError,
    RpkitError,
    SamlResponseError,
    StoreUnavailableError,
    TokenError,
    ValidationError,
)
from ..oauth.errors import setting_to_check as oauth_setting

__all__ = [
    "correlation_id",
    "error_response",
    "is_api_request",
    "response_for_error",
    "safe_next",
]

log = logging.getLogger("rpkit.flask")

_SAFE_CODE = re.compile(r"^[a-z0-9_.-]{1,64}$")
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
    parts = urlsplit(value)
    if (
        not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or "\\" in value
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        raise ValidationError("next", '"next" must be a path on this site, like "/profile"')


def is_api_request() -> bool:
    """Whether the client wants JSON (``Accept``) or is script (``X-Requested-With``)."""
    if request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
        return True
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return True
    accept = request.accept_mimetypes
    best = accept.best_match(["text/html", "application/json"])
    return best == "application/json" and accept["application/json"] > accept["text/html"]


def correlation_id() -> str:
    """This request's correlation id (logged with every error and shown to the user)."""
    value: str | None = g.get("rpkit_correlation_id")
    if value is None:
        value = uuid.uuid4().hex
        g.rpkit_correlation_id = value
    return value


def _safe(code: str | None, fallback: str) -> str:
    return code if code and _SAFE_CODE.match(code) else fallback


_MISCONFIGURED = (
    502,
    "This app is misconfigured",
    (
        "Dualog Identity refused this app's own configuration, so nobody can sign in until "
        "an administrator fixes it. Administrators: run `rpkit doctor` and look up the "
        "correlation id below in the app's log, which names the setting to check."
    ),
)


def setting_to_check(exc: RpkitError) -> str | None:
    """The setting an operator must fix when ``exc`` is the app's configuration, else None."""
    if isinstance(exc, ClientRejectedError):
        return exc.setting
    if isinstance(exc, AuthorizationDeniedError):
        return oauth_setting(exc.error, exc.error_description)
    return None


def describe(exc: RpkitError) -> tuple[int, str, str]:
    """Status, title and a message for people; never a token, assertion or secret."""
    if setting_to_check(exc) is not None:
        return _MISCONFIGURED
    if isinstance(exc, SamlResponseError) and exc.reason == "sp_rejected":
        return _MISCONFIGURED
    if isinstance(exc, InvalidGrantError):
        return (
            400,
            "Sign-in failed",
            (
                "Dualog Identity did not accept this sign-in answer (it was already used, "
                "expired or belongs to another sign-in). Please start the sign-in again."
            ),
        )
    if isinstance(exc, AuthorizationDeniedError):
        return (
            400,
            "Sign-in was refused",
            (
                "Dualog Identity did not sign you in "
                f"({_safe(exc.error, 'error')}). You can try again."
            ),
        )
    if isinstance(exc, CallbackError):
        return (
            400,
            "Sign-in link expired",
            (
                "This sign-in answer is unknown, expired, already used or was started in another "
                "browser. Please start the sign-in again."
            ),
        )
    if isinstance(exc, SamlResponseError):
        if exc.reason in ("relay_state", "browser_binding", "replay"):
            return (
                400,
                "Sign-in link expired",
                (
                    "This SAML answer is unknown, expired, already used or was started in another "
                    "browser. Please start the sign-in again."
                ),
            )
        if exc.reason == "status":
            return 400, "Sign-in was refused", "Dualog Identity did not sign you in."
        return 400, "Message refused", "The message from Dualog Identity could not be verified."
    if isinstance(exc, TokenError):
        return 401, "Invalid token", "The access token was refused."
    if isinstance(exc, AuthenticationError):
        return 400, "Sign-in failed", "The answer from Dualog Identity could not be verified."
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
    if isinstance(exc, ConfigurationError):
        return 404, "Not available", exc.message
    return 400, "Request refused", "The request could not be completed."


def response_for_error(exc: RpkitError, *, as_json: bool | None = None) -> Response:
    """Log ``exc`` with a correlation id and answer a friendly page or JSON."""
    status, title, message = describe(exc)
    reason = getattr(exc, "reason", None)
    setting = setting_to_check(exc)
    log.warning(
        "rpkit: %s (%s%s) correlation_id=%s: %s%s",
        title,
        exc.code,
        f"/{reason}" if reason else "",
        correlation_id(),
        exc.message,
        f"; check {setting}" if setting and setting not in exc.message else "",
    )
    # Why the provider is unreachable (a TLS or DNS detail) is for the log, not the client.
    public_reason = None if isinstance(exc, ProviderUnavailableError) else reason
    code = exc.code if public_reason is None else f"{exc.code}:{public_reason}"
    return error_response(status, title, message, code=code, as_json=as_json)


def error_response(
    status: int, title: str, message: str, *, code: str = "error", as_json: bool | None = None
) -> Response:
    """A friendly error answer: JSON for API clients (or ``as_json``), an HTML page for people."""
    cid = correlation_id()
    if as_json if as_json is not None else is_api_request():
        response = jsonify(
            {"error": code, "title": title, "message": message, "correlation_id": cid}
        )
    else:
        response = Response(
            error_page(status, title, message, cid), mimetype="text/html", status=status
        )
    response.status_code = status
    response.headers["X-Correlation-ID"] = cid
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(status: int, title: str, message: str, cid: str) -> str:
    """The HTML error page: the ``rpkit/error.html`` template (the app's own, if it has one).

    A template that fails to render (an app override with a bug, a session store that is
    down) must not turn an error page into a 500: the built-in page is used instead.
    """
    try:
        return render_template(
            "rpkit/error.html",
            status=status,
            title=title,
            message=message,
            correlation_id=cid,
            identity=_identity_or_none(),
        )
    except Exception:  # any template failure: the plain page, never a 500 from an error page
        log.exception("rpkit: the error page template failed; using the built-in page")
        return _plain_error_page(status, title, message, cid)


def _identity_or_none() -> object:
    """The session's identity if this request already loaded it (a 403 for rank has); the
    error path never goes to the store itself, which may be what failed."""
    record = g.get("rpkit_session")
    return getattr(record, "identity", None)


def _plain_error_page(status: int, title: str, message: str, cid: str) -> str:
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
