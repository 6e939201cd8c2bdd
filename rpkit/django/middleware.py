"""``"rpkit.django.middleware.RpkitMiddleware"`` in ``MIDDLEWARE``: friendly answers for
rpkit's errors, and security headers on every answer."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ..errors import RpkitError
from ..web.sessions import ServerSession
from .http import correlation_id, response_for_error
from .state import rpkit_state

__all__ = ["RpkitMiddleware"]

_HEADERS = {
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class RpkitMiddleware:
    """An ``RpkitError`` raised by a view (or rpkit's routes) becomes the friendly page or
    401/4xx JSON; answers get ``X-Correlation-ID`` and framing/sniffing headers, and
    ``Cache-Control: no-store`` on the ``/auth/`` routes and on signed-in pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for name, value in _HEADERS.items():
            response.setdefault(name, value)
        response.setdefault("X-Correlation-ID", correlation_id(request))
        auth_path = request.path.startswith(rpkit_state().path("/auth/"))
        if auth_path or isinstance(getattr(request, "rpkit_session", None), ServerSession):
            response.setdefault("Cache-Control", "no-store")
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RpkitError):
            return response_for_error(request, exception)
        return None
