"""rpkit.django's own rules: settings.RPKIT is checked, pages go through Django's template
engines (an app's override first, rpkit's built-in page otherwise), the system check.
The black-box contract (logins, logout, hostile input) is in tests/frameworks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rpkit.errors import ConfigurationError, UnknownSettingError

from .conftest import BASE, OIDC, SAML

DTL = "django.template.backends.django.DjangoTemplates"


def _state() -> Any:
    from rpkit.django import rpkit_state

    return rpkit_state()


@pytest.mark.parametrize(
    ("rpkit", "words"),
    [
        ({"OIDC_ISSUER": "https://crew.dualog.com/auth"}, "is not an rpkit setting"),
        ({**BASE, "RPKIT_SESSION_LIFETIME": 3600}, '"RPKIT_SESSION_LIFETIME"] must be a string'),
        ("RPKIT_BASE_URL=http://x", "must be a dict"),
        ({"RPKIT_BASE_URL": "http://app.example.com"}, "plain http to a non-loopback host"),
    ],
    ids=["no_prefix", "not_a_string", "not_a_dict", "http_base_url"],
)
def test_bad_settings_are_refused(rpkit_settings: Any, rpkit: Any, words: str) -> None:
    rpkit_settings(RPKIT=rpkit)
    with pytest.raises(ConfigurationError) as refused:
        _state()
    assert words in str(refused.value)


def test_unknown_key_is_refused_with_a_suggestion(rpkit_settings: Any) -> None:
    rpkit_settings(RPKIT={**BASE, **OIDC, "RPKIT_OIDC_CLIENTID": "typo"})
    with pytest.raises(UnknownSettingError) as refused:
        _state()
    assert "RPKIT_OIDC_CLIENT_ID" in str(refused.value)


def test_settings_override_the_environment(
    rpkit_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RPKIT_OIDC_CLIENT_ID", "from-env")
    monkeypatch.setenv("RPKIT_SESSION_LIFETIME", "60")
    rpkit_settings(RPKIT={**BASE, **OIDC})
    state = _state()
    assert state.oidc.config.client_id == "my-app"
    assert state.settings.session_lifetime.total_seconds() == 60


def _templates(*dirs: Path) -> list[dict[str, Any]]:
    return [{"BACKEND": DTL, "DIRS": [str(d) for d in dirs], "APP_DIRS": False}]


def test_builtin_pages_without_app_templates(rpkit_settings: Any) -> None:
    """A Django-templates project with no rpkit templates gets rpkit's own pages."""
    from django.test import Client

    rpkit_settings(RPKIT={**BASE, **OIDC, **SAML}, TEMPLATES=_templates())
    chooser = Client().get("/auth/login", {"next": "/bridge"})
    assert chooser.status_code == 200
    assert 'data-testid="login-saml" href="/auth/login/saml?next=/bridge"' in chooser.text
    refused = Client().get("/auth/login", {"next": "//evil.example"})
    assert refused.status_code == 400
    assert 'data-testid="error-title">Bad request<' in refused.text
    assert refused["X-Correlation-ID"] in refused.text


def test_app_templates_override_rpkit_pages(rpkit_settings: Any, tmp_path: Path) -> None:
    """``rpkit/error.html`` in the app's template folder (Django template syntax) wins."""
    from django.test import Client

    (tmp_path / "rpkit").mkdir()
    (tmp_path / "rpkit" / "error.html").write_text(
        "<p>OUR PAGE {{ status }} {{ title }} {{ correlation_id }} "
        "{{ rpkit_logout_url }} {{ message }}</p>"
    )
    rpkit_settings(RPKIT={**BASE, **OIDC}, TEMPLATES=_templates(tmp_path))
    answer = Client().get("/auth/login/oidc", {"next": "https://evil.example/<b>"})
    assert answer.status_code == 400
    assert answer.text.startswith("<p>OUR PAGE 400 Bad request ")
    assert answer["X-Correlation-ID"] in answer.text and "/auth/logout" in answer.text
    assert "<b>" not in answer.text


def test_broken_override_falls_back_to_a_plain_page(rpkit_settings: Any, tmp_path: Path) -> None:
    from django.test import Client

    (tmp_path / "rpkit").mkdir()
    (tmp_path / "rpkit" / "error.html").write_text("{% include 'missing.html' %}")
    rpkit_settings(RPKIT={**BASE, **OIDC}, TEMPLATES=_templates(tmp_path))
    answer = Client().get("/auth/login", {"next": "//evil.example"})
    assert answer.status_code == 400
    assert 'data-testid="error-title">Bad request<' in answer.text


def test_api_clients_get_json(rpkit_settings: Any) -> None:
    from django.test import Client

    rpkit_settings(RPKIT={**BASE, **OIDC})
    client = Client()
    for accept, wants_json in [
        ("application/json", True),
        ("text/html,application/json;q=0.9", False),
        ("application/json,text/html;q=0.5", True),
        ("*/*", False),
    ]:
        answer = client.get("/profile", HTTP_ACCEPT=accept)
        assert answer.status_code == (401 if wants_json else 302), accept
        if wants_json:
            assert answer.json()["error"] == "login_required"


def test_missing_middleware_fails_the_system_check(rpkit_settings: Any) -> None:
    from django.core import checks

    rpkit_settings(RPKIT={**BASE, **OIDC}, MIDDLEWARE=[])
    assert "rpkit.E001" in [m.id for m in checks.run_checks()]
    rpkit_settings(MIDDLEWARE=["rpkit.django.middleware.RpkitMiddleware"])
    assert "rpkit.E001" not in [m.id for m in checks.run_checks()]


def test_logout_needs_rpkit_token_even_with_django_csrf(rpkit_settings: Any) -> None:
    """Django's CSRF middleware does not stand in for rpkit's session-bound token."""
    from django.test import Client

    rpkit_settings(RPKIT={**BASE, **OIDC})
    state = _state()
    from rpkit.identity import CrewIdentity

    identity = CrewIdentity(
        protocol="oidc", issuer=OIDC["RPKIT_OIDC_ISSUER"], subject="s1", rank="Master"
    )
    new = state.sessions.prepare(identity, protocol_data={"id_token": "x"}, replaces=None)
    state.settings.store.commit(new.batch)
    client = Client(enforce_csrf_checks=True)
    client.cookies[state.session_cookie] = new.session_id
    assert client.get("/me").status_code == 200
    assert client.post("/auth/logout", {"csrf_token": "forged"}).status_code == 403
    assert client.get("/me").status_code == 200
    done = client.post("/auth/logout", {"csrf_token": new.record.csrf_token})
    # No provider to reach here: signed out locally, and the page says so (as in Flask).
    assert done.status_code == 200
    assert "Signed out of this app" in done.content.decode()
    assert client.get("/me").status_code == 401
