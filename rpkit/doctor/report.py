"""What a doctor run found: one :class:`CheckResult` per check id, as a table or as JSON.

The check ids and the JSON shape are a public contract (docs/doctor.md): scripts and CI
read them. Add ids; never rename or remove one.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CHECK_IDS", "CheckResult", "Report", "Status"]

Status = Literal["ok", "warn", "fail", "skip"]

# Every check, in the order it runs and is printed. A public contract.
CHECK_IDS: tuple[str, ...] = (
    "config.env",
    "oidc.tls",
    "oidc.discovery",
    "oidc.issuer",
    "oidc.jwks",
    "oidc.clock",
    "oidc.client_auth",
    "oidc.redirect_uri",
    "oidc.scopes",
    "saml.metadata",
    "saml.sp",
    "scim.token",
    "scim.read",
    "redis",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckResult:
    """The outcome of one check.

    ``message`` says what was found; ``fix`` (empty when there is nothing to do) names the
    env variable or the portal setting to change.
    """

    id: str
    status: Status
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "status": self.status, "message": self.message, "fix": self.fix}


def fail(check_id: str, message: str, fix: str = "") -> CheckResult:
    """A failed check: what was found, and what to change."""
    return CheckResult(id=check_id, status="fail", message=message, fix=fix)


@dataclass(frozen=True, slots=True)
class Report:
    """Every check's result, in :data:`CHECK_IDS` order."""

    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return all(c.status != "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 when a check failed."""
        return 0 if self.ok else 1

    def get(self, check_id: str) -> CheckResult:
        """The result of ``check_id`` (KeyError if it did not run)."""
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)

    def as_dict(self) -> dict[str, Any]:
        """``{"ok": bool, "checks": [{"id", "status", "message", "fix"}]}``."""
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def render(self, width: int | None = None) -> str:
        """The table people read: check, status, what was found, the fix."""
        width = width or max(80, min(shutil.get_terminal_size((120, 24)).columns, 160))
        id_width = max(len(c.id) for c in self.checks) if self.checks else 5
        indent = id_width + 2 + 4 + 2
        body = max(30, width - indent)
        lines = [f"{'check'.ljust(id_width)}  {'status':<4}  found / fix", ""]
        for check in self.checks:
            text = _wrap(check.message, body)
            lines.append(f"{check.id.ljust(id_width)}  {check.status:<4}  {text[0]}")
            lines += [" " * indent + line for line in text[1:]]
            if check.fix:
                for i, line in enumerate(_wrap("fix: " + check.fix, body)):
                    lines.append(" " * indent + ("" if i == 0 else "     ") + line)
        counts = {s: sum(1 for c in self.checks if c.status == s) for s in _STATUSES}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        verdict = "no check failed" if self.ok else "a check failed"
        lines += ["", f"{summary}: {verdict}."]
        return "\n".join(lines)


_STATUSES: Sequence[Status] = ("ok", "warn", "fail", "skip")


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]
