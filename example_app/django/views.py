"""The sample app's pages on Django: ``/``, ``/profile``, ``/bridge`` (deck officers),
``/me`` and the bearer API ``/api/crew/me``."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import engines
from django.views.decorators.http import require_GET

from rpkit.django import (
    bearer_required,
    current_access_token,
    current_identity,
    current_session,
    error_response,
    login_required,
    rank_required,
    rpkit_state,
)
from rpkit.errors import ConfigurationError

from .. import pages


@cache
def _template(body: str) -> Any:
    return engines["jinja2"].from_string(pages.page(body))


def _render(request: HttpRequest, body: str, **context: Any) -> HttpResponse:
    return HttpResponse(_template(body).render(context, request))


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _render(
        request,
        pages.HOME,
        identity=current_identity(request),
        protocols=rpkit_state().protocols,
        sandbox_url=getattr(settings, "EXAMPLE_SANDBOX_URL", None),
    )


@require_GET
@login_required
def profile(request: HttpRequest) -> HttpResponse:
    identity = current_identity(request)
    assert identity is not None
    ranks = rpkit_state().settings.ranks
    return _render(
        request,
        pages.PROFILE,
        identity=identity,
        canonical_rank=ranks.canonical(identity.rank),
        is_deck_officer=ranks.allows(identity.rank, "deck_officers"),
    )


@require_GET
@rank_required("deck_officers")
def bridge(request: HttpRequest) -> HttpResponse:
    return _render(request, pages.BRIDGE, identity=current_identity(request))


@require_GET
def me(request: HttpRequest) -> HttpResponse:
    record = current_session(request)
    if record is None:
        return JsonResponse({"authenticated": False}, status=401)
    return JsonResponse(pages.me(record.identity))


@bearer_required()
def _api_crew_me(request: HttpRequest) -> HttpResponse:
    token = current_access_token(request)
    assert token is not None
    return JsonResponse(pages.api_crew_me(token))


@require_GET
def api_crew_me(request: HttpRequest) -> HttpResponse:
    try:
        rpkit_state().check_bearer_configuration()
    except ConfigurationError:
        # As the Flask sample app: people sign in, the API says what to configure.
        answer = error_response(
            request, 401, "API not configured", pages.API_NOT_CONFIGURED,
            code="api_not_configured", as_json=True,
        )  # fmt: skip
        answer["WWW-Authenticate"] = pages.API_NOT_CONFIGURED_CHALLENGE
        return answer
    return _api_crew_me(request)
