"""View decorators: ``login_required``, ``rank_required(...)`` and ``bearer_required(...)``.

Browsers without a session are sent to sign in (with ``next``); API clients (``Accept:
application/json``, ``X-Requested-With``) get a 401 JSON answer instead of a redirect.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from ..errors import RpkitError
from ..oidc import AccessToken
from ..web.pages import BEARER_CHALLENGE, TOKEN_REQUIRED, bearer_refusal, bearer_token, safe_next
from .http import current_identity, error_response, is_api_request, response_for_error
from .state import rpkit_state

__all__ = ["bearer_required", "current_access_token", "login_required", "rank_required"]

V = TypeVar("V", bound=Callable[..., HttpResponse])


def _here(request: HttpRequest) -> str:
    """The current path and query as a ``next`` value (only if it is a safe path)."""
    try:
        return safe_next(request.get_full_path())
    except RpkitError:
        return "/"


def _login_answer(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        answer = error_response(
            request, 401, "Sign-in required", "Sign in to use this resource.", code="login_required"
        )
        answer["WWW-Authenticate"] = 'Bearer realm="rpkit"'
        return answer
    return HttpResponseRedirect(rpkit_state().path(f"/auth/login?next={quote(_here(request))}"))


def login_required(view: V) -> V:
    """Require a signed-in session (OIDC or SAML); the view finds it with
    :func:`~rpkit.django.current_identity`."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if current_identity(request) is None:
            return _login_answer(request)
        return view(request, *args, **kwargs)

    return cast(V, wrapper)


def rank_required(*rules: str) -> Callable[[V], V]:
    """Require a signed-in crew member whose rank matches one of ``rules``.

    A rule is a rank in any spelling (``"C/O"``), a department (``"deck"``) or a group
    (``"deck_officers"``) of the app's rank vocabulary. An unknown or missing rank is
    refused with a friendly 403.
    """
    if not rules:
        raise ValueError("rank_required needs at least one rank, department or group")
    wanted = ", ".join(r.replace("_", " ") for r in rules)

    def decorate(view: V) -> V:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            identity = current_identity(request)
            if identity is None:
                return _login_answer(request)
            if rpkit_state().settings.ranks.allows(identity.rank, *rules):
                return view(request, *args, **kwargs)
            rank = identity.rank or "not set"
            message = f"This page is for {wanted}; your rank is {rank}."
            return error_response(request, 403, "Not for your rank", message, code="rank_forbidden")

        return cast(V, wrapper)

    return decorate


def bearer_required(*scopes: str) -> Callable[[V], V]:
    """Require ``Authorization: Bearer <JWT access token>`` minted for this API.

    The view finds the validated token with :func:`current_access_token`. Missing or
    invalid tokens answer 401 with ``WWW-Authenticate`` (RFC 6750 §3), a missing scope 403.
    An app whose OIDC configuration sets neither the API audience nor the accepted client
    ids answers every token with 401 (call ``rpkit_state().check_bearer_configuration()``
    at start to refuse to start instead).
    """

    def decorate(view: V) -> V:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            token = bearer_token(request.headers.get("Authorization", ""))
            if token is None:
                refusal = TOKEN_REQUIRED
                answer = error_response(
                    request, refusal.status, refusal.title, refusal.message,
                    code=refusal.code, as_json=True,
                )  # fmt: skip
                answer["WWW-Authenticate"] = BEARER_CHALLENGE
                return answer
            client = rpkit_state().require_oidc()
            try:
                access = client.validate_access_token(token, required_scopes=scopes)
            except RpkitError as err:
                return _token_refused(request, err, scopes)
            request.rpkit_access_token = access  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return cast(V, wrapper)

    return decorate


def _token_refused(request: HttpRequest, err: RpkitError, scopes: tuple[str, ...]) -> HttpResponse:
    answer = response_for_error(request, err, as_json=True)
    challenge = bearer_refusal(err, scopes)
    if challenge is not None:
        answer.status_code, answer["WWW-Authenticate"] = challenge
    return answer


def current_access_token(request: HttpRequest) -> AccessToken | None:
    """The access token :func:`bearer_required` validated for this request."""
    token = getattr(request, "rpkit_access_token", None)
    return token if isinstance(token, AccessToken) else None
