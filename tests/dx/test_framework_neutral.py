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


def test_starlette_adapter_runs_without_flask() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_FLASK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    # 404 for an unknown route, 404 "not available" for an unconfigured protocol.
    assert result.stdout.split() == ["404", "404", "[]", "[]"], result.stdout


def test_fastapi_extra_does_not_pull_flask() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert not [d for d in extras["fastapi"] if d.lower().startswith(("flask", "rpkit[flask"))]
