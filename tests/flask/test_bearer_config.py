"""bearer_required refuses at start when the configuration cannot tell whose tokens to accept."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Blueprint, Flask

from rpkit.errors import ConfigurationError
from rpkit.flask import Rpkit, bearer_required

OIDC = {
    "RPKIT_OIDC_ISSUER": "http://127.0.0.1:9/auth",  # never contacted: checks run at start
    "RPKIT_OIDC_CLIENT_ID": "crew-app",
    "RPKIT_OIDC_CLIENT_SECRET": "s",
}


def _view() -> str:
    return "ok"


def _app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({**OIDC, **config})
    return app


def _assert_names_both_settings(err: ConfigurationError) -> None:
    for name in ("RPKIT_OIDC_ACCESS_TOKEN_AUDIENCE", "RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS"):
        assert name in err.message


def test_a_bearer_route_added_after_init_app_is_refused() -> None:
    """@app.get on a bearer view, after Rpkit(app), raises and names both settings."""
    app = _app()
    Rpkit(app)
    with pytest.raises(ConfigurationError) as exc:
        app.get("/api")(bearer_required()(_view))
    _assert_names_both_settings(exc.value)
    assert "/api" not in {rule.rule for rule in app.url_map.iter_rules()}


def test_a_bearer_route_added_before_init_app_is_refused() -> None:
    """A bearer view registered before Rpkit(app) is found when the extension starts."""
    app = _app()
    app.get("/api")(bearer_required("crew.public")(_view))
    with pytest.raises(ConfigurationError) as exc:
        Rpkit(app)
    _assert_names_both_settings(exc.value)


def test_a_bearer_route_in_a_blueprint_is_refused() -> None:
    """Blueprint routes go through the same check when the blueprint is registered."""
    app = _app()
    Rpkit(app)
    api = Blueprint("api", __name__)
    api.add_url_rule("/api", view_func=bearer_required()(_view))
    with pytest.raises(ConfigurationError):
        app.register_blueprint(api)


@pytest.mark.parametrize(
    "setting",
    [
        {"RPKIT_OIDC_ACCESS_TOKEN_AUDIENCE": "crew-api"},
        {"RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS": "bridge-app"},
        {"RPKIT_OIDC_ALLOW_ANY_AUDIENCE": "true"},
    ],
    ids=["audience", "client_ids", "allow_any_audience"],
)
def test_a_configured_audience_lets_the_app_start(setting: dict[str, str]) -> None:
    """Any one of the three settings is enough; other routes are never affected."""
    app = _app(**setting)
    Rpkit(app)
    app.get("/api")(bearer_required()(_view))
    app.get("/page", endpoint="page")(_view)
    assert app.test_client().get("/api").status_code == 401  # no token sent


def test_an_app_without_bearer_routes_starts_without_an_audience() -> None:
    """Sign-in alone needs no API audience."""
    app = _app()
    Rpkit(app)
    app.get("/page")(_view)
    assert app.test_client().get("/page").data == b"ok"
