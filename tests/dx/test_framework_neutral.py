"""rpkit.web and rpkit.starlette work where Flask is not installed (``rpkit[fastapi]``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Flask and its toolkit are made unimportable, as in an environment with rpkit[fastapi]
# only; then the Starlette adapter is built and serves a page.
_WITHOUT_FLASK = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoFlask(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"flask", "werkzeug"}:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, NoFlask())
    try:
        import flask  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("the blocker did not block flask")

    import rpkit.web.flow, rpkit.web.pages, rpkit.web.sessions, rpkit.web.settings
    import rpkit.starlette
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    app = FastAPI()
    rpkit.starlette.Rpkit({"RPKIT_SECRET_KEY": "x" * 32}).install(app)
    with TestClient(app) as client:
        page = client.get("/auth/nowhere", headers={"Accept": "application/json"})
        missing = client.get("/auth/login/oidc")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"flask", "werkzeug"})
    leaked = sorted(m for m in sys.modules if m.startswith("rpkit.flask"))
    print(page.status_code, missing.status_code, loaded, leaked)
    """
)


def _run_alone(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that sees only the checkout and the system path."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_starlette_adapter_runs_without_flask() -> None:
    result = _run_alone(_WITHOUT_FLASK)
    assert result.returncode == 0, result.stderr
    # 404 for an unknown route, 404 "not available" for an unconfigured protocol.
    assert result.stdout.split() == ["404", "404", "[]", "[]"], result.stdout


def test_fastapi_extra_does_not_pull_flask() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert not [d for d in extras["fastapi"] if d.lower().startswith(("flask", "rpkit[flask"))]


# The same for the Django app: Flask, Werkzeug, Starlette and FastAPI unimportable (an
# environment with rpkit[django] only); a project is configured and serves rpkit's routes.
_DJANGO_ALONE = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {"flask", "werkzeug", "starlette", "fastapi"}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    import django
    from django.conf import settings
    from django.urls import include, path

    settings.configure(
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["rpkit.django"],
        MIDDLEWARE=["rpkit.django.middleware.RpkitMiddleware"],
        RPKIT={"RPKIT_BASE_URL": "http://127.0.0.1:5000"},
    )
    urlpatterns = [path("", include("rpkit.django.urls"))]
    django.setup()
    from django.test import Client

    client = Client()
    chooser = client.get("/auth/login")
    missing = client.get("/auth/login/oidc", HTTP_ACCEPT="application/json")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    leaked = sorted(m for m in sys.modules if m.startswith(("rpkit.flask", "rpkit.starlette")))
    print(chooser.status_code, missing.status_code, missing.json()["error"], loaded, leaked)
    """
)


def test_django_app_runs_without_flask_or_starlette() -> None:
    result = _run_alone(_DJANGO_ALONE)
    assert result.returncode == 0, result.stderr
    # No protocol configured: the chooser and the OIDC route say "not available" (404).
    assert result.stdout.split() == ["404", "404", "not_configured", "[]", "[]"], result.stdout


def test_django_extra_does_not_pull_flask_or_starlette() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    pulled = [d.lower() for d in extras["django"]]
    assert not [d for d in pulled if d.startswith(("flask", "rpkit[", "fastapi", "starlette"))]
