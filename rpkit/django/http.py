"""Request and response helpers: sessions, cookies, API detection, friendly error answers.

Error pages go through Django's template engines: an app overrides ``rpkit/error.html`` or
``rpkit/chooser.html`` by putting its own under that name in a template folder (in the
syntax of its engine, Django templates or Jinja2). Without an override, rpkit's built-in
pages (the ones the Flask and Starlette integrations use) are rendered.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import jinja2
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import TemplateDoesNotExist, loader

from ..errors import RpkitError
from ..identity import CrewIdentity
from ..web import flow
from ..web.pages import TEMPLATES, error_body, plain_error_page, refusal, wants_json
from ..web.sessions import ServerSession
from .state import rpkit_state

__all__ = [
    "correlation_id",
    "current_identity",
    "current_session",
    "error_response",
    "is_api_request",
    "render",
    "response_for_error",
    "template_context",
]

log = logging.getLogger("rpkit.django")

_BUILTIN = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
)
_UNLOADED = object()


def current_session(request: HttpRequest) -> ServerSession | None:
    """The signed-in session of this request, or None (loaded once per request)."""
    record = getattr(request, "rpkit_session", _UNLOADED)
    if record is _UNLOADED:
        state = rpkit_state()
        cookie = request.COOKIES.get(state.session_cookie)
        record = state.sessions.load(cookie) if cookie else None
        request.rpkit_session = record  # type: ignore[attr-defined]
    return record if isinstance(record, ServerSession) else None


def current_identity(request: HttpRequest) -> CrewIdentity | None:
    """The signed-in crew member of this request, or None (never refuses)."""
    record = current_session(request)
    return record.identity if record is not None else None


def _loaded(request: HttpRequest) -> ServerSession | None:
    # The error path never goes to the store itself, which may be what failed.
    record = getattr(request, "rpkit_session", None)
    return record if isinstance(record, ServerSession) else None


def correlation_id(request: HttpRequest) -> str:
    """This request's correlation id (logged with every error and shown to the user)."""
    value = getattr(request, "rpkit_correlation_id", None)
    if not isinstance(value, str):
        value = uuid.uuid4().hex
        request.rpkit_correlation_id = value  # type: ignore[attr-defined]
    return value


def is_api_request(request: HttpRequest) -> bool:
    """Whether the client wants JSON (``Accept``), is script (``X-Requested-With``) or
    presents a bearer token."""
    return wants_json(request.headers)


def template_context(request: HttpRequest, *, load: bool = True) -> dict[str, Any]:
    """What rpkit's pages and an app's layout use (also the context processor
    ``rpkit.django.context_processors.rpkit``). Names as in the other integrations; in a
    Django template a callable is called without arguments (``{{ rpkit_csrf_token }}``).
    ``load=False``: only a session this request already loaded (the error path)."""
    record = current_session(request) if load else _loaded(request)
    state = rpkit_state()
    return {
        "rpkit_identity": lambda: record.identity if record else None,
        "rpkit_csrf_token": lambda: record.csrf_token if record else "",
        "rpkit_protocols": lambda: state.protocols,
        "rpkit_url": state.path,
        "rpkit_logout_url": state.path("/auth/logout"),
        "rpkit_signed_out": lambda: signed_out(request, record),
    }


def render(request: HttpRequest, name: str, context: dict[str, Any], *, load: bool = True) -> str:
    """Render ``rpkit/...`` through the app's template engines, else rpkit's built-in page."""
    values = {**template_context(request, load=load), **context}
    try:
        template = loader.get_template(name)
    except TemplateDoesNotExist:
        return _BUILTIN.get_template(name).render(values)
    return template.render(values, request)


def error_response(
    request: HttpRequest,
    status: int,
    title: str,
    message: str,
    *,
    code: str = "error",
    as_json: bool | None = None,
) -> HttpResponse:
    """A friendly error: JSON for API clients (or ``as_json``), an HTML page for people."""
    cid = correlation_id(request)
    response: HttpResponse
    if as_json if as_json is not None else is_api_request(request):
        response = JsonResponse(error_body(code, title, message, cid), status=status)
    else:
        response = HttpResponse(_error_page(request, status, title, message, cid), status=status)
    response["X-Correlation-ID"] = cid
    response["Cache-Control"] = "no-store"
    return response


def _error_page(request: HttpRequest, status: int, title: str, message: str, cid: str) -> str:
    record = _loaded(request)
    context = {
        "status": status,
        "title": title,
        "message": message,
        "correlation_id": cid,
        "identity": record.identity if record else None,
    }
    try:
        return render(request, "rpkit/error.html", context, load=False)
    except Exception:  # a broken override must not turn an error page into a 500
        log.exception("rpkit: the error page template failed; using the built-in page")
        return plain_error_page(status, title, message, cid)


def response_for_error(
    request: HttpRequest, exc: RpkitError, *, as_json: bool | None = None
) -> HttpResponse:
    """Log ``exc`` with a correlation id and answer a friendly page or JSON."""
    answer = refusal(exc, correlation_id(request), log)
    return error_response(
        request, answer.status, answer.title, answer.message, code=answer.code, as_json=as_json
    )


def set_cookie(response: HttpResponse, name: str, value: str, **options: Any) -> None:
    """Set an rpkit cookie: :meth:`rpkit.web.flow.WebState.set_cookie`."""
    rpkit_state().set_cookie(response, name, value, **options)


def clear_cookie(response: HttpResponse, name: str, *, path: str = "/") -> None:
    response.delete_cookie(name, path=path)


def leave(request: HttpRequest, response: HttpResponse) -> None:
    """The browser's session has ended: clear its cookie and leave the one-time
    signed-out notice for the page it comes back to."""
    max_age = int(flow.SIGNED_OUT_NOTICE.total_seconds())
    set_cookie(response, flow.SIGNED_OUT_COOKIE, "1", max_age=max_age)
    clear_cookie(response, rpkit_state().session_cookie)
    request.rpkit_session = None  # type: ignore[attr-defined]


def signed_out(request: HttpRequest, record: ServerSession | None) -> bool:
    """Whether this browser has just signed out (shown once: the middleware then clears
    the notice cookie). For a "You have signed out" line on the page logout returns to."""
    if request.COOKIES.get(flow.SIGNED_OUT_COOKIE) != "1" or record is not None:
        return False
    request.rpkit_signed_out_shown = True  # type: ignore[attr-defined]
    return True
