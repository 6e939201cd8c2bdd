"""``"rpkit.django.middleware.RpkitMiddleware"`` in ``MIDDLEWARE``: friendly answers for
rpkit's errors, and security headers on every answer."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ..errors import RpkitError
from ..web import flow
from ..web.pages import security_headers
from ..web.sessions import ServerSession
from .http import clear_cookie, correlation_id, response_for_error
from .state import rpkit_state

__all__ = ["RpkitMiddleware"]


class RpkitMiddleware:
    """An ``RpkitError`` raised by a view (or rpkit's routes) becomes the friendly page or
    401/4xx JSON; answers get ``X-Correlation-ID`` and framing/sniffing headers, and
    ``Cache-Control: no-store`` on the ``/auth/`` routes and on signed-in pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        auth_path = request.path.startswith(rpkit_state().path("/auth/"))
        signed_in = isinstance(getattr(request, "rpkit_session", None), ServerSession)
        for name, value in security_headers(
            response.get("Content-Security-Policy", ""),
            no_store=auth_path or signed_in,
            correlation_id=correlation_id(request),
        ).items():
            response.setdefault(name, value)
        if getattr(request, "rpkit_signed_out_shown", False):
            clear_cookie(response, flow.SIGNED_OUT_COOKIE)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RpkitError):
            return response_for_error(request, exception)
        return None
