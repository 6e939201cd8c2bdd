"""``Rpkit``: sign-in with Dualog Identity for a Starlette or FastAPI app.

The protocol cores and the state store are synchronous (``requests``, the Redis client), so
every step that may touch the network or the store runs in Starlette's worker-thread pool
(:func:`offload`): the event loop keeps serving other requests while a login waits for
Dualog's token endpoint. ``benchmarks/starlette_loop_lag.py`` measures it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any, TypeVar

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import RpkitError
from ..identity import CrewIdentity
from ..web import flow
from ..web.flow import WebState
from ..web.pages import (
    TEMPLATES,
    error_body,
    plain_error_page,
    refusal,
    security_headers,
    wants_json,
)
from ..web.sessions import ServerSession
from ..web.settings import Settings
from ._requests import correlation_id, limit_threads, offload, offload_page

__all__ = ["Rpkit", "RpkitAnswer", "offload"]

log = logging.getLogger("rpkit.starlette")

T = TypeVar("T")
_UNLOADED = object()


class RpkitAnswer(Exception):
    """Raised by a dependency to answer the request now (a redirect to sign in, a 401)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class Rpkit:
    """Sign-in with Dualog Identity (OIDC and SAML) for a Starlette or FastAPI app.

    ``rpkit = Rpkit(config)`` reads ``config`` (a mapping with the ``RPKIT_*`` keys of
    the Flask extension) and the ``RPKIT_*`` environment; a bad configuration raises
    ``ConfigurationError`` here. ``rpkit.install(app)`` adds the routes, the error pages
    and the security headers. ``templates``: folders searched before rpkit's own for
    ``rpkit/error.html`` and ``rpkit/chooser.html``.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        templates: Sequence[str | PathLike[str]] = (),
    ) -> None:
        self.state = WebState(Settings.from_config(dict(config or {})))
        limit_threads(self.state.settings.asgi_threads)
        loader = jinja2.FileSystemLoader([*map(str, templates), str(TEMPLATES)])
        self.templates = jinja2.Environment(loader=loader, autoescape=True)

    @property
    def routes(self) -> list[Any]:
        from .views import routes

        return routes(self)

    def install(self, app: Any) -> None:
        """Add the ``/auth/...`` routes, the error handlers and the security headers."""
        app.state.rpkit = self
        app.router.routes.extend(self.routes)
        app.add_exception_handler(RpkitError, self._rpkit_error)
        app.add_exception_handler(RpkitAnswer, _answer)
        app.add_middleware(SecurityHeaders, rpkit=self)

    # -- sessions ----------------------------------------------------------------------

    async def session(self, request: Request) -> ServerSession | None:
        """The signed-in session of this request, or None (loaded once per request)."""
        record = getattr(request.state, "rpkit_session", _UNLOADED)
        if record is _UNLOADED:
            cookie = request.cookies.get(self.state.session_cookie)
            record = await offload_page(self.state.sessions.load, cookie) if cookie else None
            request.state.rpkit_session = record
        return record  # type: ignore[return-value]

    async def identity(self, request: Request) -> CrewIdentity | None:
        record = await self.session(request)
        return record.identity if record is not None else None

    def set_cookie(self, response: Response, name: str, value: str, **options: Any) -> None:
        """Set an rpkit cookie: :meth:`rpkit.web.flow.WebState.set_cookie`."""
        self.state.set_cookie(response, name, value, **options)

    def clear_cookie(self, response: Response, name: str, *, path: str = "/") -> None:
        response.delete_cookie(
            name, path=path, secure=self.state.settings.secure_cookies, httponly=True
        )

    def leave(self, request: Request, response: Response) -> None:
        """The browser's session has ended: clear its cookie and leave the one-time
        signed-out notice for the page it comes back to."""
        self.set_cookie(
            response,
            flow.SIGNED_OUT_COOKIE,
            "1",
            max_age=int(flow.SIGNED_OUT_NOTICE.total_seconds()),
        )
        self.clear_cookie(response, self.state.session_cookie)
        request.state.rpkit_session = None

    def signed_out(self, request: Request, record: ServerSession | None) -> bool:
        """Whether this browser has just signed out (shown once: the notice cookie is then
        cleared). For a "You have signed out" line on the page logout returns to."""
        if request.cookies.get(flow.SIGNED_OUT_COOKIE) != "1" or record is not None:
            return False
        request.state.rpkit_signed_out_shown = True
        return True

    # -- pages -------------------------------------------------------------------------

    async def render(
        self, request: Request, template: str | jinja2.Template, **context: Any
    ) -> str:
        """Render ``template`` with the globals rpkit's pages and the app's layout use.

        In the worker-thread pool, like every other step that costs CPU: a page is a few
        milliseconds of Jinja, which 50 concurrent logins would add up on the loop."""
        record = await self.session(request)
        return await offload_page(lambda: self.render_loaded(request, record, template, **context))

    def render_loaded(
        self,
        request: Request,
        record: ServerSession | None,
        template: str | jinja2.Template,
        **context: Any,
    ) -> str:
        """Render with a session already loaded (or None); never goes to the store."""
        values = {
            "rpkit_identity": lambda: record.identity if record else None,
            "rpkit_csrf_token": lambda: record.csrf_token if record else "",
            "rpkit_protocols": lambda: self.state.protocols,
            "rpkit_url": self.state.path,
            "rpkit_signed_out": lambda: self.signed_out(request, record),
            **context,
        }
        if isinstance(template, str):
            template = self.templates.get_template(template)
        return template.render(**values)

    def error_response(
        self,
        request: Request,
        status: int,
        title: str,
        message: str,
        *,
        code: str = "error",
        as_json: bool | None = None,
    ) -> Response:
        """A friendly error: JSON for API clients (or ``as_json``), an HTML page for people."""
        cid = correlation_id(request)
        response: Response
        if as_json if as_json is not None else is_api_request(request):
            response = JSONResponse(error_body(code, title, message, cid), status_code=status)
        else:
            response = HTMLResponse(self._error_page(request, status, title, message, cid), status)
        response.headers["X-Correlation-ID"] = cid
        response.headers["Cache-Control"] = "no-store"
        return response

    def response_for_error(
        self, request: Request, exc: RpkitError, *, as_json: bool | None = None
    ) -> Response:
        """Log ``exc`` with a correlation id and answer a friendly page or JSON."""
        answer = refusal(exc, correlation_id(request), log)
        return self.error_response(
            request, answer.status, answer.title, answer.message, code=answer.code, as_json=as_json
        )

    def _error_page(self, request: Request, status: int, title: str, message: str, cid: str) -> str:
        # Only a session this request already loaded: the error path never goes to the
        # store itself, which may be what failed.
        record = getattr(request.state, "rpkit_session", None)
        if not isinstance(record, ServerSession):
            record = None
        try:
            return self.render_loaded(
                request,
                record,
                "rpkit/error.html",
                status=status,
                title=title,
                message=message,
                correlation_id=cid,
                identity=record.identity if record else None,
            )
        except Exception:  # a broken override must not turn an error page into a 500
            log.exception("rpkit: the error page template failed; using the built-in page")
            return plain_error_page(status, title, message, cid)

    async def _rpkit_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RpkitError)
        return self.response_for_error(request, exc)


async def _answer(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RpkitAnswer)
    return exc.response


def is_api_request(request: Request) -> bool:
    """Whether the client wants JSON (``Accept``) or is script (``X-Requested-With``)."""
    return wants_json(request.headers)


class SecurityHeaders:
    """Security headers on every answer, ``no-store`` on the auth routes and signed-in
    pages; clears the signed-out notice once a page has shown it."""

    def __init__(self, app: ASGIApp, rpkit: Rpkit) -> None:
        self.app = app
        self.rpkit = rpkit
        cleared = Response()
        rpkit.clear_cookie(cleared, flow.SIGNED_OUT_COOKIE)
        self._clear_notice = [(k, v) for k, v in cleared.raw_headers if k == b"set-cookie"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth_path = str(scope.get("path", "")).startswith(self.rpkit.state.path("/auth/"))
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.decode("latin-1").lower(): v for k, v in headers}
                signed_in = isinstance(state.get("rpkit_session"), ServerSession)
                extra = security_headers(
                    present.get("content-security-policy", b"").decode("latin-1"),
                    no_store=auth_path or signed_in,
                    correlation_id=str(state.get("rpkit_correlation_id") or uuid.uuid4().hex),
                )
                headers += [
                    (k.lower().encode(), v.encode())
                    for k, v in extra.items()
                    if k.lower() not in present
                ]
                if state.get("rpkit_signed_out_shown"):
                    headers += self._clear_notice
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
