"""The floors of docs/architecture.md, checked against the code's imports."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Top-level part of rpkit -> its floor. A module may import its own floor or lower ones.
FLOORS = {
    "errors": 0,
    "config": 0,
    "_clock": 0,
    "env": 0,
    "reasons": 0,
    "_http": 1,
    "store": 1,
    "_single_flight": 1,
    "_cache": 1,
    "_pending": 1,
    "identity": 1,
    "ranks": 1,
    "oauth": 1,
    "oidc": 2,
    "saml": 2,
    "scim": 3,
    "flask": 4,
    "web": 4,
    "starlette": 4,
    "django": 4,
    "cli": 5,
    "testing": 5,
    "doctor": 5,
    "__main__": 5,
    "__init__": 5,
}
SANDBOX_MAY_IMPORT = {"errors"}
NEVER = {("oidc", "saml"), ("saml", "oidc"), ("scim", "oidc")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(package: str, name: str) -> bool:
    folder = ROOT.joinpath(*package.split("."))
    return (folder / f"{name}.py").is_file() or (folder / name).is_dir()


@functools.cache
def _imports() -> tuple[tuple[str, str, str], ...]:
    """(importing part, imported part, file:line) for every import of rpkit inside rpkit/."""
    found: list[tuple[str, str, str]] = []
    for path in (ROOT / "rpkit").rglob("*.py"):
        relative = path.relative_to(ROOT).with_suffix("")
        module_parts = list(relative.parts)
        package = module_parts if path.name == "__init__.py" else module_parts[:-1]
        if path.name == "__init__.py":
            module_parts = module_parts[:-1]
        source = _part(".".join(module_parts)) if len(module_parts) > 1 else "__init__"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    targets = [".".join([*base, *(node.module.split(".") if node.module else [])])]
                    if not node.module:  # ``from . import x``: a module, or a name of the package
                        targets = [
                            f"{targets[0]}.{alias.name}"
                            if _is_module(targets[0], alias.name)
                            else targets[0]
                            for alias in node.names
                        ]
                else:
                    targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                if target == "rpkit" or target.startswith("rpkit."):
                    found.append((source, _part(target), f"{relative}.py:{node.lineno}"))
    return tuple(found)


def test_imports_point_down() -> None:
    imports = _imports()
    assert len(imports) > 100  # the walker sees the code
    upward = [
        f"{where}: {source} (floor {FLOORS[source]}) imports {target} (floor {FLOORS[target]})"
        for source, target, where in imports
        if source in FLOORS
        and target in FLOORS
        and source != target
        and FLOORS[target] > FLOORS[source]
    ]
    assert not upward, upward
    crossed = [f"{where}: {s} imports {t}" for s, t, where in imports if (s, t) in NEVER]
    assert not crossed, crossed


def test_scim_takes_its_tokens_from_oauth_not_oidc() -> None:
    """No module under rpkit/scim imports rpkit.oidc, not even for type checking: the token
    calls and client authentication SCIM needs live in rpkit.oauth."""
    scim = [(target, where) for source, target, where in _imports() if source == "scim"]
    assert ("oauth", "rpkit/scim/_transport.py") in {(t, w.split(":")[0]) for t, w in scim}
    assert [where for target, where in scim if target == "oidc"] == []


def test_every_part_has_a_floor() -> None:
    parts = {source for source, _, _ in _imports()} | {t for _, t, _ in _imports()}
    unplaced = sorted(parts - set(FLOORS) - {"sandbox"})
    assert not unplaced, f"place these in docs/architecture.md and FLOORS: {unplaced}"


def test_sandbox_shares_nothing_with_the_client() -> None:
    leaks = [
        f"{where}: sandbox imports rpkit.{target}"
        for source, target, where in _imports()
        if source == "sandbox" and target not in SANDBOX_MAY_IMPORT | {"sandbox"}
    ]
    assert not leaks, leaks


def test_every_part_says_what_it_owns_and_must_not_import() -> None:
    """Each part's module docstring names what it owns and what it must not import."""
    silent = []
    for part in sorted((set(FLOORS) - {"__main__"}) | {"sandbox"}):
        path = ROOT / "rpkit" / f"{part}.py"
        if not path.is_file():
            path = ROOT / "rpkit" / part / "__init__.py"
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if "Owns:" not in doc or "Must not import:" not in doc:
            silent.append(str(path.relative_to(ROOT)))
    assert not silent, (
        f"add 'Owns: ...' and 'Must not import: ...' to the module docstring of {silent} "
        "(and the part to docs/architecture.md)"
    )
