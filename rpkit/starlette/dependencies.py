"""Dependencies: ``require_login``, ``require_rank(...)`` and ``require_bearer(...)``.

In FastAPI: ``identity: CrewIdentity = Depends(require_login)``. In plain Starlette:
``identity = await require_login(request)``. Browsers without a session are sent to sign
in (with ``next``); API clients (``Accept: application/json``, ``X-Requested-With``) get a
401 JSON answer. The answer is raised as :class:`RpkitAnswer`, which ``Rpkit.install``
turns back into the response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse

from ..errors import RpkitError
from ..identity import CrewIdentity
from ..oidc import AccessToken
from ..web.pages import BEARER_CHALLENGE, TOKEN_REQUIRED, bearer_refusal, bearer_token, safe_next
from .extension import Rpkit, RpkitAnswer, offload

__all__ = ["current_identity", "require_bearer", "require_login", "require_rank", "rpkit_of"]


def rpkit_of(request: Request) -> Rpkit:
    """The ``Rpkit`` installed on the request's app."""
    rpkit = getattr(request.app.state, "rpkit", None)
    if not isinstance(rpkit, Rpkit):
        raise RuntimeError("rpkit.starlette.Rpkit was not installed on this app")
    return rpkit


async def current_identity(request: Request) -> CrewIdentity | None:
    """The signed-in crew member of this request, or None (never refuses)."""
    return await rpkit_of(request).identity(request)


def _here(request: Request) -> str:
    """The current path and query as a ``next`` value (only if it is a safe path)."""
    full = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        return safe_next(full)
    except RpkitError:
        return "/"


def _login_answer(rpkit: Rpkit, request: Request) -> RpkitAnswer:
    from .extension import is_api_request

    if is_api_request(request):
        answer = rpkit.error_response(
            request, 401, "Sign-in required", "Sign in to use this resource.", code="login_required"
        )
        answer.headers["WWW-Authenticate"] = 'Bearer realm="rpkit"'
        return RpkitAnswer(answer)
    login_url = rpkit.state.path(f"/auth/login?next={quote(_here(request))}")
    return RpkitAnswer(RedirectResponse(login_url, 302))


async def require_login(request: Request) -> CrewIdentity:
    """The signed-in crew member (OIDC or SAML); otherwise sign in, or 401 for APIs."""
    rpkit = rpkit_of(request)
    identity = await rpkit.identity(request)
    if identity is None:
        raise _login_answer(rpkit, request)
    return identity


def require_rank(*rules: str) -> Callable[[Request], Awaitable[CrewIdentity]]:
    """A dependency admitting a crew member whose rank matches one of ``rules``.

    A rule is a rank in any spelling (``"C/O"``), a department (``"deck"``) or a group
    (``"deck_officers"``) of the app's rank vocabulary. An unknown or missing rank is
    refused with a friendly 403.
    """
    if not rules:
        raise ValueError("require_rank needs at least one rank, department or group")

    async def rank_dependency(request: Request) -> CrewIdentity:
        identity = await require_login(request)
        rpkit = rpkit_of(request)
        if not rpkit.state.settings.ranks.allows(identity.rank, *rules):
            raise RpkitAnswer(
                rpkit.error_response(
                    request,
                    403,
                    "Not for your rank",
                    f"This page is for {', '.join(r.replace('_', ' ') for r in rules)}; "
                    f"your rank is {identity.rank or 'not set'}.",
                    code="rank_forbidden",
                )
            )
        return identity

    return rank_dependency


def require_bearer(*scopes: str) -> Callable[[Request], Awaitable[AccessToken]]:
    """A dependency requiring ``Authorization: Bearer <JWT access token>`` for this API.

    Returns the validated :class:`~rpkit.oidc.AccessToken`. Missing or invalid tokens
    answer 401 with ``WWW-Authenticate`` (RFC 6750 §3), a missing scope 403. An app whose
    OIDC configuration sets neither the API audience nor the accepted client ids answers
    every token with 401 (call ``rpkit.state.check_bearer_configuration()`` at start to
    refuse to start instead).
    """

    async def bearer_dependency(request: Request) -> AccessToken:
        rpkit = rpkit_of(request)
        token = bearer_token(request.headers.get("authorization", ""))
        if token is None:
            refusal = TOKEN_REQUIRED
            answer = rpkit.error_response(
                request, refusal.status, refusal.title, refusal.message, code=refusal.code,
                as_json=True,
            )  # fmt: skip
            answer.headers["WWW-Authenticate"] = BEARER_CHALLENGE
            raise RpkitAnswer(answer)
        client = rpkit.state.require_oidc()
        try:
            return await offload(
                lambda: client.validate_access_token(token, required_scopes=scopes)
            )
        except RpkitError as err:
            answer = rpkit.response_for_error(request, err, as_json=True)
            challenge = bearer_refusal(err, scopes)
            if challenge is not None:
                answer.status_code, answer.headers["WWW-Authenticate"] = challenge
            raise RpkitAnswer(answer) from err

    return bearer_dependency
