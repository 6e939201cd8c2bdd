"""Flask integration: sign-in with Dualog Identity over OIDC and SAML (``rpkit[flask]``).

::

    from rpkit.flask import Rpkit, login_required, rank_required, bearer_required

    rpkit = Rpkit()

    def create_app():
        app = Flask(__name__)
        rpkit.init_app(app)                 # config from app.config and RPKIT_* env
        return app

    @app.get("/bridge")
    @rank_required("deck_officers")
    def bridge(): ...

Sessions are server-side (the cookie holds a random id, rotated at login); logout is a
CSRF-protected ``POST /auth/logout`` (form field ``csrf_token``).

Owns: the Flask extension: routes, cookies, decorators, error pages, on ``rpkit.web``.
Must not import: ``rpkit.starlette``, ``rpkit.django``, the sandbox, ``rpkit.testing`` or
``rpkit.cli``; it holds no protocol rule (they live in the cores, floor 4).
"""

from ..web.sessions import ServerSession, SessionStore
from ..web.settings import Settings
from .decorators import bearer_required, current_access_token, login_required, rank_required
from .extension import Rpkit, RpkitState, csrf_token, current_identity, current_session, rpkit_state
from .web import error_response, is_api_request, safe_next

__all__ = [
    "Rpkit",
    "RpkitState",
    "ServerSession",
    "SessionStore",
    "Settings",
    "bearer_required",
    "csrf_token",
    "current_access_token",
    "current_identity",
    "current_session",
    "error_response",
    "is_api_request",
    "login_required",
    "rank_required",
    "rpkit_state",
    "safe_next",
]
