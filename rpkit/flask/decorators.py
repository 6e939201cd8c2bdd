"""View decorators: ``login_required``, ``rank_required`` and ``bearer_required``.

Browsers without a session are sent to sign in (with ``next``); API clients (``Accept:
application/json``, ``X-Requested-With``) get a 401 JSON answer instead of a redirect.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import quote

from flask import g, redirect, request

from ..errors import RpkitError
from ..oidc import AccessToken
from ..web.pages import BEARER_CHALLENGE, TOKEN_REQUIRED, bearer_refusal, bearer_token
from ._state import BEARER_VIEW_MARK, current_identity, rpkit_state
from .web import error_response, is_api_request, response_for_error, safe_next

__all__ = ["bearer_required", "current_access_token", "login_required", "rank_required"]

F = TypeVar("F", bound=Callable[..., Any])


def _here() -> str:
    """The current path and query, as a ``next`` value (only if it is a safe path)."""
    full = request.full_path if request.query_string else request.path
    try:
        return safe_next(full)
    except RpkitError:
        return "/"


def _login_answer() -> Any:
    state = rpkit_state()
    login_url = f"{state.settings.path_prefix}/auth/login?next={quote(_here())}"
    if is_api_request():
        answer = error_response(
            401, "Sign-in required", "Sign in to use this resource.", code="login_required"
        )
        answer.headers["WWW-Authenticate"] = 'Bearer realm="rpkit"'
        return answer
    return redirect(login_url, code=302)


def login_required(view: F) -> F:
    """Require a signed-in session (OIDC or SAML)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_identity() is None:
            return _login_answer()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def rank_required(*rules: str) -> Callable[[F], F]:
    """Require a signed-in crew member whose rank matches one of ``rules``.

    A rule is a rank in any spelling (``"C/O"``), a department (``"deck"``) or a group
    (``"deck_officers"``) of the app's :class:`~rpkit.ranks.RankVocabulary`. Unknown rules
    raise ``ValueError`` on the first request; an unknown or missing rank is refused (403).
    """
    if not rules:
        raise ValueError("rank_required needs at least one rank, department or group")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            identity = current_identity()
            if identity is None:
                return _login_answer()
            if not rpkit_state().settings.ranks.allows(identity.rank, *rules):
                return error_response(
                    403,
                    "Not for your rank",
                    f"This page is for {', '.join(r.replace('_', ' ') for r in rules)}; "
                    f"your rank is {identity.rank or 'not set'}.",
                    code="rank_forbidden",
                )
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def bearer_required(*scopes: str) -> Callable[[F], F]:
    """Require ``Authorization: Bearer <JWT access token>`` minted for this API.

    The token must come from the configured (or an accepted) issuer, be typed ``at+jwt``
    and carry one of ``access_token_audience`` in ``aud`` or one of
    ``access_token_client_ids`` as ``client_id``. Registering a view with this decorator
    on an app whose OIDC configuration sets neither (nor ``allow_any_audience``) raises
    ``ConfigurationError`` at start, not per request.

    The validated token is available as :func:`current_access_token`. Missing or invalid
    tokens answer 401 with ``WWW-Authenticate`` (RFC 6750 §3), a missing scope 403.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token(request.headers.get("Authorization", ""))
            if token is None:
                refusal = TOKEN_REQUIRED
                answer = error_response(
                    refusal.status, refusal.title, refusal.message, code=refusal.code, as_json=True
                )
                answer.headers["WWW-Authenticate"] = BEARER_CHALLENGE
                return answer
            client = rpkit_state().require_oidc()
            try:
                g.rpkit_access_token = client.validate_access_token(token, required_scopes=scopes)
            except RpkitError as err:
                answer = response_for_error(err, as_json=True)
                challenge = bearer_refusal(err, scopes)
                if challenge is not None:
                    answer.status_code, answer.headers["WWW-Authenticate"] = challenge
                return answer
            return view(*args, **kwargs)

        setattr(wrapper, BEARER_VIEW_MARK, scopes)
        return cast(F, wrapper)

    return decorate


def current_access_token() -> AccessToken | None:
    """The access token validated by :func:`bearer_required` for this request."""
    token: AccessToken | None = g.get("rpkit_access_token")
    return token
