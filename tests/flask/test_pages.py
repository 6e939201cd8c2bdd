"""The pages people see: rpkit's templates, the sample app's overrides, and the fallback."""

from __future__ import annotations

from pathlib import Path

import requests
from flask import Flask

from rpkit.flask import Rpkit, rank_required

from .conftest import Stack
from .helpers import JONAS, forms, oidc_login


def test_rank_refusal_keeps_the_layout_and_a_way_out(stack: Stack, http: requests.Session) -> None:
    """A 403 for rank is shown in the app's layout, with the sign-out that ends it."""
    oidc_login(http, stack.base_url, JONAS)  # an AB
    refused = http.get(f"{stack.base_url}/bridge")
    assert refused.status_code == 403
    assert "rpkit sample app" in refused.text  # the sample app's header (layout.html)
    assert 'data-testid="error-title"' in refused.text
    (logout,) = [f for f in forms(refused.text) if f["action"] == "/auth/logout"]
    assert logout["fields"]["csrf_token"]
    out = http.post(f"{stack.base_url}/auth/logout", data=logout["fields"], allow_redirects=False)
    assert out.status_code in (302, 303)
    assert http.get(f"{stack.base_url}/me").status_code == 401


def test_chooser_uses_the_app_template(stack: Stack, http: requests.Session) -> None:
    page = http.get(f"{stack.base_url}/auth/login", params={"next": "/bridge"})
    assert page.status_code == 200
    assert "rpkit sample app" in page.text
    assert 'data-testid="login-oidc"' in page.text and 'data-testid="login-saml"' in page.text


def _plain_app(stack: Stack, **flask_options: object) -> Flask:
    app = Flask("plain_app", **flask_options)  # type: ignore[arg-type]
    app.config.update(
        RPKIT_SANDBOX="off",
        RPKIT_OIDC_ISSUER=stack.sandbox.issuer,
        RPKIT_OIDC_CLIENT_ID="rpkit-demo",
        RPKIT_OIDC_CLIENT_SECRET="rpkit-demo-secret",
        RPKIT_SAML_IDP_METADATA_URL=stack.sandbox.urls["saml_metadata"],
    )
    Rpkit(app)

    @app.get("/bridge")
    @rank_required("deck_officers")
    def bridge() -> str:
        return "bridge"

    return app


def test_default_templates_without_overrides(stack: Stack) -> None:
    """An app with no templates of its own gets rpkit's chooser and error page."""
    client = _plain_app(stack).test_client()
    chooser = client.get("/auth/login?next=/bridge")
    assert chooser.status_code == 200
    text = chooser.get_data(as_text=True)
    assert "<h1>Sign in</h1>" in text and "/auth/login/saml?next=/bridge" in text
    refused = client.get("/auth/login/oidc?next=//evil.example")
    assert refused.status_code == 400
    assert 'data-testid="correlation-id"' in refused.get_data(as_text=True)


def test_a_broken_override_falls_back_to_the_plain_page(stack: Stack, tmp_path: Path) -> None:
    """An error template that fails to render never turns an error page into a 500."""
    (tmp_path / "rpkit").mkdir()
    (tmp_path / "rpkit" / "error.html").write_text("{{ no_such_function() }}")
    client = _plain_app(stack, template_folder=str(tmp_path)).test_client()
    refused = client.get("/auth/login/oidc?next=//evil.example")
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert 'data-testid="error-title"' in body and "Correlation id" in body


def test_signed_out_notice_shows_once(stack: Stack, http: requests.Session) -> None:
    """After logout (through the IdP's round trip) the start page says so, once."""
    from .helpers import INGRID

    oidc_login(http, stack.base_url, INGRID)
    page = http.get(f"{stack.base_url}/profile")
    (logout,) = [f for f in forms(page.text) if f["action"] == "/auth/logout"]
    landed = http.post(f"{stack.base_url}/auth/logout", data=logout["fields"])  # follows
    assert landed.url.rstrip("/") == stack.base_url  # back from the sandbox's end session
    assert 'data-testid="signed-out"' in landed.text
    again = http.get(f"{stack.base_url}/")
    assert 'data-testid="signed-out"' not in again.text
