"""Django system checks (``manage.py check`` and every start): rpkit's middleware present."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

MIDDLEWARE = "rpkit.django.middleware.RpkitMiddleware"


def middleware_installed(**_: Any) -> list[CheckMessage]:
    if MIDDLEWARE in getattr(settings, "MIDDLEWARE", []):
        return []
    return [
        Error(
            f"{MIDDLEWARE} is not in MIDDLEWARE",
            hint="Without it a refused sign-in is a 500 instead of a friendly 4xx page.",
            id="rpkit.E001",
        )
    ]
