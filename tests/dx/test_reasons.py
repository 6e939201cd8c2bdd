"""Every reason code the code raises is in ``rpkit.reasons`` (and so on the docs page)."""

from __future__ import annotations

import ast
from pathlib import Path

from rpkit import errors
from rpkit.errors import AuthenticationError, IdTokenError, SamlResponseError
from rpkit.reasons import REASONS, explain

ROOT = Path(__file__).resolve().parents[2]
# Helpers that build a given error class from a reason literal, by module.
_BUILDERS = {
    ("saml", "_fail"): "SamlResponseError",
    ("oidc", "_HeaderRejected"): "IdTokenError",
    ("oidc", "_Rejected"): "IdTokenError",
}


def _raised() -> set[tuple[str, str, str]]:
    """(error class, reason, file:line) for each reason literal raised under rpkit/."""
    classes = {
        name
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), AuthenticationError)
    }
    found: set[tuple[str, str, str]] = set()
    for path in (ROOT / "rpkit").rglob("*.py"):
        if "sandbox" in path.parts:
            continue  # the fake Dualog raises no relying-party errors
        package = path.relative_to(ROOT / "rpkit").parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            cls = name if name in classes else _BUILDERS.get((package, name))
            if cls and cls != "AuthorizationDeniedError":  # its reason is the IdP's error=
                found.add((cls, first.value, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return found


def test_every_raised_reason_is_explained() -> None:
    raised = _raised()
    assert len(raised) > 50  # the scan sees the code (guards against a broken walker)
    missing = sorted(
        f"{cls}({reason!r}) at {where}"
        for cls, reason, where in raised
        if reason not in REASONS.get(cls, {})
    )
    assert not missing, (
        "reason codes without a cause and fix in rpkit/reasons.py (the docs' troubleshooting "
        f"page is built from it): {missing}"
    )


def test_explain_follows_the_error_class() -> None:
    found = explain(IdTokenError("rank", "no rank"))
    assert found is not None and "crew.public" in found.fix
    assert explain(SamlResponseError("rank", "x")) is None  # not a SAML reason
