"""Fenced code blocks of the docs, and the marks that say how each one is tested.

A ``python``, ``sh``, ``bash`` or ``console`` block in ``README.md`` or ``docs/`` is tested
when an HTML comment on the line before it says how (invisible on the rendered page):

* ``<!-- run -->``: run it as it stands against a fresh sandbox, with the sandbox's
  ``RPKIT_*`` environment (``rpkit.sandbox.env_block``); it must exit 0.
* ``<!-- run: flask-app PATH -->``: a Flask app (a module-level ``app``). It is imported
  with the sandbox's environment and served on loopback; a crew member (the Master) signs in
  through it with ``next=PATH`` by each protocol the app offers (OIDC, SAML), and
  ``GET PATH`` must then answer 200. A snippet that can no longer sign anybody in fails.
* ``<!-- run: own-client-app PATH -->``: a Flask app that uses its own redirect URI
  ``http://127.0.0.1:5081PATH``. The real ``rpkit sandbox --client my-app:secret
  --redirect-uri ...`` command is started (port 5081 replaced by a free one), the app is
  imported with the environment the command prints, and a crew member signs in from ``/``
  to an answer of 200 at ``PATH``.
* ``<!-- run: asgi-app PATH -->``: the same for an ASGI app (FastAPI or Starlette with
  ``rpkit.starlette``), served by uvicorn on a free loopback port.
* ``<!-- run: django-app PATH -->``: the same for a single-file Django app, run as a reader
  would (``python app.py runserver HOST:PORT``) in its own process on a free port.
* ``<!-- not run: REASON -->``: a fragment or a command that cannot run inside the test
  suite (the demo itself, the test command, a real Dualog host); the reason is required.

A block with none of these marks fails the suite: a new snippet has to say how it is
tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = {"python", "sh", "bash", "console", "shell"}
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\n`]*)$")
_MARK = re.compile(
    r"^\s*<!--\s*(?:run(?::\s*(?P<kind>[\w-]+)(?:\s+(?P<arg>\S+))?)?|not run:\s*(?P<why>.+?))"
    r"\s*-->\s*$"
)


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    mark: str  # "run", "run:flask-app", "not-run" or "" (unmarked)
    reason: str = ""  # why it is not run; for "run:flask-app", the path to sign in to

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def snippets(path: Path) -> list[Snippet]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening or not opening["info"].strip():
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        language = opening["info"].split()[0].lower()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            body.append(lines[end][indent:] if lines[end][:indent].strip() == "" else lines[end])
            end += 1
        if language in LANGUAGES:
            mark, reason = "", ""
            previous = _previous_nonblank(lines, index)
            matched = _MARK.match(previous) if previous is not None else None
            if matched:
                if matched["why"]:
                    mark, reason = "not-run", matched["why"]
                elif matched["kind"]:
                    mark, reason = f"run:{matched['kind']}", matched["arg"] or "/"
                else:
                    mark = "run"
            found.append(Snippet(path, index + 1, language, "\n".join(body) + "\n", mark, reason))
        index = end + 1
    return found


def _previous_nonblank(lines: list[str], index: int) -> str | None:
    for back in range(index - 1, -1, -1):
        if lines[back].strip():
            return lines[back]
    return None


def all_snippets() -> list[Snippet]:
    return [snippet for path in doc_files() for snippet in snippets(path)]
