"""Request helpers: API detection, correlation ids, error responses (Flask's side).

The rules and the words (safe ``next`` paths, what each refusal tells the user) live in
:mod:`rpkit.web.pages`, shared with the other frameworks.
"""

from __future__ import annotations

import logging
import uuid

from flask import Response, g, jsonify, render_template, request

from ..errors import RpkitError
from ..web.pages import error_body, plain_error_page, refusal, safe_next, wants_json

__all__ = [
    "correlation_id",
    "error_response",
    "is_api_request",
    "response_for_error",
    "safe_next",
]

log = logging.getLogger("rpkit.flask")


def is_api_request() -> bool:
    """Whether the client wants JSON (``Accept``) or is script (``X-Requested-With``)."""
    return wants_json(request.headers)


def correlation_id() -> str:
    """This request's correlation id (logged with every error and shown to the user)."""
    value: str | None = g.get("rpkit_correlation_id")
    if value is None:
        value = uuid.uuid4().hex
        g.rpkit_correlation_id = value
    return value


def response_for_error(exc: RpkitError, *, as_json: bool | None = None) -> Response:
    """Log ``exc`` with a correlation id and answer a friendly page or JSON."""
    answer = refusal(exc, correlation_id(), log)
    return error_response(
        answer.status, answer.title, answer.message, code=answer.code, as_json=as_json
    )


def error_response(
    status: int, title: str, message: str, *, code: str = "error", as_json: bool | None = None
) -> Response:
    """A friendly error answer: JSON for API clients (or ``as_json``), an HTML page for people."""
    cid = correlation_id()
    if as_json if as_json is not None else is_api_request():
        response = jsonify(error_body(code, title, message, cid))
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
        return plain_error_page(status, title, message, cid)


def _identity_or_none() -> object:
    """The session's identity if this request already loaded it (a 403 for rank has); the
    error path never goes to the store itself, which may be what failed."""
    record = g.get("rpkit_session")
    return getattr(record, "identity", None)
