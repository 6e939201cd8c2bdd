"""What ships: the wheel's file list, its metadata, and the API reference of the docs site."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import rpkit
from rpkit.reasons import REASONS

from .test_public_api import SNAPSHOT

ROOT = Path(__file__).resolve().parents[2]
# Every package under the public-API lock has its reference page (tests/dx/test_public_api.py).
PUBLIC_PACKAGES = tuple(SNAPSHOT)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # The wheel is built from the sdist, as PyPI users get it: a wheel built straight from
    # the checkout would also pack whatever a former build left in build/lib.
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("rpkit-*.whl")
    return built


def test_wheel_file_list(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert wheel.name == f"rpkit-{rpkit.__version__}-py3-none-any.whl"
    top = {name.split("/", 1)[0] for name in names}
    # The sample app runs from a checkout; it is not a package of anyone's site-packages.
    assert top == {"rpkit", f"rpkit-{rpkit.__version__}.dist-info"}
    for needed in ("rpkit/py.typed", "rpkit/sandbox/seed.json", "rpkit/sandbox/README.md"):
        assert needed in names
    # Nothing of the checkout that is not the library: tests, keys, benchmarks, docs.
    assert not [n for n in names if n.endswith((".key", ".pem")) or n.startswith("tests/")]


def test_installed_wheel_has_the_cli_and_no_sample_app(wheel: Path, tmp_path: Path) -> None:
    """In a fresh venv holding only the wheel (dependencies borrowed from this one),
    ``rpkit --version`` answers and ``import example_app`` fails."""
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", str(wheel))
    # The dependencies come from this interpreter's site-packages as a plain path entry: its
    # own .pth files (the editable install of the checkout) are not processed from there.
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site, deps = (_run(p, "-c", purelib).stdout.strip() for p in (python, sys.executable))
    Path(site, "borrowed-deps.pth").write_text(deps + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}

    version = _run(str(venv / "bin" / "rpkit"), "--version", cwd=tmp_path, env=env)
    assert rpkit.__version__ in version.stdout
    where = _run(python, "-c", "import rpkit; print(rpkit.__file__)", cwd=tmp_path, env=env)
    assert where.stdout.startswith(str(venv)), f"rpkit imported from elsewhere: {where.stdout}"
    sample = _run(python, "-c", "import example_app", cwd=tmp_path, env=env, check=False)
    assert sample.returncode != 0
    assert "No module named 'example_app'" in sample.stderr


def _run(
    *argv: str, check: bool = True, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if check:
        assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result


def test_twine_accepts_the_metadata(wheel: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_site_builds_strictly_with_every_public_name(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert (site / "search" / "search_index.json").is_file()
    missing = []
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        names = getattr(module, "__all__", None)
        assert names, f"{package} declares no __all__"
        page = site / "reference" / package.removeprefix("rpkit.")
        html = (page / "index.html").read_text(encoding="utf-8")
        missing += [f"{package}.{n}" for n in names if f'id="{package}.{n}"' not in html]
    assert not missing, f"public names missing from the API reference: {missing}"
    troubleshooting = (site / "troubleshooting" / "index.html").read_text(encoding="utf-8")
    unlisted = [
        f"{error}.{reason}"
        for error, table in REASONS.items()
        for reason in table
        if f"<code>{reason}</code>" not in troubleshooting
    ]
    assert not unlisted, f"reason codes missing from the troubleshooting page: {unlisted}"
