"""The import graph of rpkit/, module by module, read from the source: no cycles.

Every import counts, at module level or inside a function (a lazy import hides a cycle, it
does not remove it), except those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rpkit"
WEB = ("rpkit.flask", "rpkit.starlette", "rpkit.django", "rpkit.web", "rpkit._webflow")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The rpkit module ``name`` names: itself, or the package that holds the name."""
    modules = _modules()
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


@functools.cache
def import_graph() -> dict[str, frozenset[str]]:
    """Module -> the rpkit modules it imports (a package's ``__init__`` runs too)."""
    graph: dict[str, frozenset[str]] = {}
    for module, path in _modules().items():
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_nodes(tree)
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    prefix = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    prefix = node.module or ""
                # ``from p import x``: module p.x if there is one, else a name of p.
                names = [
                    f"{prefix}.{alias.name}"
                    if f"{prefix}.{alias.name}" in _modules()
                    else prefix
                    for alias in node.names
                ]
            for name in names:
                resolved = _resolve(name) if name.startswith("rpkit") else None
                if resolved is not None and resolved != module:
                    targets.add(resolved)
        graph[module] = frozenset(targets)
    return graph


def _cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _edges_within(graph: dict[str, frozenset[str]], members: list[str]) -> list[str]:
    return [f"{a} -> {b}" for a in members for b in sorted(graph[a]) if b in members]


def _reaches(graph: dict[str, frozenset[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_walker_sees_the_code() -> None:
    graph = import_graph()
    assert "rpkit.oidc.client" in graph["rpkit.flask.extension"] | _reaches(
        graph, "rpkit.flask.extension"
    )
    assert "rpkit._pending" in graph["rpkit.saml.sp"]
    assert sum(len(targets) for targets in graph.values()) > 200


def test_no_import_cycle_in_rpkit() -> None:
    graph = import_graph()
    cycles = [_edges_within(graph, members) for members in _cycles(graph)]
    assert not cycles, cycles


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module and a three-module loop are both found."""
    graph = {
        "a": frozenset({"b"}),
        "b": frozenset({"a"}),
        "c": frozenset({"d"}),
        "d": frozenset({"e"}),
        "e": frozenset({"c"}),
        "f": frozenset({"a"}),
    }
    assert sorted(_cycles(graph)) == [["a", "b"], ["c", "d", "e"]]


def test_protocol_cores_stand_alone() -> None:
    """rpkit.oidc and rpkit.saml import neither each other nor any web package, at any
    depth: each protocol core can be used (and reviewed) on its own."""
    graph = import_graph()
    for core, other in (("rpkit.oidc", "rpkit.saml"), ("rpkit.saml", "rpkit.oidc")):
        for module in (m for m in graph if m == core or m.startswith(core + ".")):
            reached = _reaches(graph, module)
            bad = sorted(
                m
                for m in reached
                if m == other
                or m.startswith(other + ".")
                or any(m == web or m.startswith(web + ".") for web in WEB)
            )
            assert not bad, f"{module} imports {bad}"
