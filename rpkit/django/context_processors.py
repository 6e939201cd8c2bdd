"""``"rpkit.django.context_processors.rpkit"`` in ``TEMPLATES[...]["OPTIONS"]
["context_processors"]``: the signed-in crew member and the sign-out form's token in every
template (``rpkit_identity``, ``rpkit_csrf_token``, ``rpkit_logout_url``...)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .http import template_context

__all__ = ["rpkit"]


def rpkit(request: HttpRequest) -> dict[str, Any]:
    return template_context(request)
