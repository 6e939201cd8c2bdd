"""Django integration: sign-in with Dualog Identity (``rpkit[django]``).

::

    # settings.py
    INSTALLED_APPS = [..., "rpkit.django"]
    MIDDLEWARE = [..., "rpkit.django.middleware.RpkitMiddleware"]
    RPKIT = {"RPKIT_BASE_URL": "https://app.example.com"}   # plus the RPKIT_* environment

    # urls.py
    urlpatterns = [path("", include("rpkit.django.urls")), path("bridge", bridge)]

    # views.py
    from rpkit.django import current_identity, rank_required

    @rank_required("deck_officers")
    def bridge(request): ...

Sessions are rpkit's server-side sessions (memory or Redis, as in the Flask and Starlette
integrations), not Django's session framework; logout is a ``POST /auth/logout`` checked
against rpkit's session-bound CSRF token.

Owns: the Django app: URLs, views, decorators, middleware, pages, on ``rpkit.web``.
Must not import: ``rpkit.flask``, ``rpkit.starlette``, the sandbox or ``rpkit.testing``; no
protocol rule (floor 4).
"""

from .decorators import bearer_required, current_access_token, login_required, rank_required
from .http import (
    current_identity,
    current_session,
    error_response,
    is_api_request,
    response_for_error,
)
from .state import rpkit_state

__all__ = [
    "bearer_required",
    "current_access_token",
    "current_identity",
    "current_session",
    "error_response",
    "is_api_request",
    "login_required",
    "rank_required",
    "response_for_error",
    "rpkit_state",
]
