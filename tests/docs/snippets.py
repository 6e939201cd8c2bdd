"""Fenced code blocks of the docs, and the marks that say how each one is tested.

A ``python``, ``sh``, ``bash``, ``shell`` or ``console`` block in ``README.md`` or ``docs/``
is tested when an HTML comment on the line before it says how (invisible on the rendered
page):

* ``<!-- run -->``: run it as it stands against a fresh sandbox, with the sandbox's
  ``RPKIT_*`` environment (``rpkit.sandbox.env_block``); it must exit 0.
* ``<!-- run: with CONTEXT -->``: a fragment (the body of a handler, a call that needs an
  object from a block above) run inside a prepared context from ``tests/docs/contexts.py``:
  Python runs with the names the context provides (``client``, ``request``...), a shell
  block in a directory holding the files it names. The context says what it provides.
* ``<!-- run: flask-app PATH -->``: a Flask app (a module-level ``app``). It is imported
  with the sandbox's environment and served on loopback; a crew member (the Master) signs in
  through it with ``next=PATH`` by each protocol the app offers (OIDC, SAML), and
  ``GET PATH`` must then answer 200. A snippet that can no longer sign anybody in fails.
* ``<!-- run: own-client-app PATH -->``: a Flask app of at most 20 lines that uses its own
  redirect URI ``http://127.0.0.1:5081PATH``. The page's ``<!-- run: sandbox-command -->``
  block (``rpkit sandbox --client my-app:secret --redirect-uri ...``) is started as a real
  process, port 5081 replaced by a free one, the app is imported with the environment the
  command prints, and a crew member signs in from ``/`` to an answer of 200 at ``PATH``.
* ``<!-- run: asgi-app PATH -->``: the same for an ASGI app (FastAPI or Starlette with
  ``rpkit.starlette``), served by uvicorn on a free loopback port.
* ``<!-- run: django-app PATH -->``: the same for a single-file Django app, run as a reader
  would (``python app.py runserver HOST:PORT``) in its own process on a free port.
* ``<!-- run: server PORT [with CONTEXT] -->``: a command that serves until stopped. It
  runs in the background with its loopback ports moved to free ones (``rpkit sandbox``'s
  default 8080 too, and the sample app's 8080 and 5000 through ``RPKIT_SANDBOX_PORT`` and
  ``RPKIT_BASE_URL``); it must answer HTTP on (the free port standing for) ``PORT``, and is
  then stopped.
* ``<!-- run: help -->``: commands that install, or run for minutes (the demo, the test
  suite, a full benchmark): each runs with ``--help`` from the repository root, must exit
  0, and every ``--option`` the line uses must appear in its help.
* ``<!-- run: pip -->``: ``pip install`` lines run with ``--dry-run --no-index`` (against
  this checkout, installed in the environment): a renamed extra fails.
* ``<!-- not run: REASON -->``: only what cannot run here at all (a real Dualog host); the
  reason is required.

Every block, run or not, is also checked statically: Python compiles, every ``rpkit ...``
command line parses with the CLI's own argument parser, and every ``RPKIT_*`` variable it
names is one rpkit reads (``rpkit.env.known_variables``).

A block with none of these marks fails the suite: a new snippet has to say how it is
tested.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = {"python", "sh", "bash", "console", "shell"}
SHELLS = LANGUAGES - {"python"}
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\n`]*)$")
_MARK = re.compile(
    r"^\s*<!--\s*(?:run(?::\s*(?:(?P<kind>(?!with\b)[\w-]+)(?:\s+(?!with\b)(?P<arg>\S+))?)?"
    r"(?:\s*\bwith\s+(?P<context>[\w-]+))?)?|not run:\s*(?P<why>.+?))\s*-->\s*$"
)


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    mark: str  # "run", "run:KIND" (flask-app, server...), "not-run" or "" (unmarked)
    reason: str = ""  # why it is not run; for "run:KIND", the mark's argument (a path, a port)
    context: str = ""  # "run: ... with CONTEXT": the prepared context (tests/docs/contexts.py)

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    # The sandbox's README is a page of the site too (docs/sandbox.md includes it).
    readmes = [ROOT / "README.md", ROOT / "rpkit" / "sandbox" / "README.md"]
    return [*readmes, *sorted((ROOT / "docs").rglob("*.md"))]


def _fences(lines: list[str]) -> Iterator[tuple[int, str, str, list[str]]]:
    """(index of the opening fence, its info string, its indent, the body lines)."""
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            body.append(lines[end][indent:] if lines[end][:indent].strip() == "" else lines[end])
            end += 1
        yield index, opening["info"].strip(), opening["indent"], body
        index = end + 1


def unlabelled_fences(path: Path) -> list[str]:
    """Fences that name no language: a command there would escape every check."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [f"{path.relative_to(ROOT)}:{i + 1}" for i, info, _, _ in _fences(lines) if not info]


def snippets(path: Path) -> list[Snippet]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    for index, info, _, body in _fences(lines):
        if not info or info.split()[0].lower() not in LANGUAGES:
            continue
        language = info.split()[0].lower()
        mark, reason, context = "", "", ""
        previous = _previous_nonblank(lines, index)
        matched = _MARK.match(previous) if previous is not None else None
        if matched:
            context = matched["context"] or ""
            if matched["why"]:
                mark, reason = "not-run", matched["why"]
            elif matched["kind"]:
                mark, reason = f"run:{matched['kind']}", matched["arg"] or "/"
            else:
                mark = "run"
        code = "\n".join(body) + "\n"
        found.append(Snippet(path, index + 1, language, code, mark, reason, context))
    return found


def _previous_nonblank(lines: list[str], index: int) -> str | None:
    for back in range(index - 1, -1, -1):
        if lines[back].strip():
            return lines[back]
    return None


def all_snippets() -> list[Snippet]:
    return [snippet for path in doc_files() for snippet in snippets(path)]


# -- static checks, for every block, run or not ------------------------------------------

_OPERATORS = {"|", "||", "&&", ";", "&", "(", ")", "$(", ";;"}
_REDIRECT = re.compile(r"^[<>&|]+$")
_VARIABLE = re.compile(r"\bRPKIT_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)")


def command_lines(snippet: Snippet) -> list[str]:
    """The shell command lines of a block: continuations joined, console output dropped."""
    lines: list[str] = []
    pending = ""
    for raw in snippet.code.splitlines():
        line = raw.rstrip()
        if snippet.language == "console" and not pending:
            if not line.startswith("$ "):
                continue  # output, not a command
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line.strip())
    return lines


def words(line: str) -> list[str]:
    """A command line split as the shell would, operators as their own words."""
    line = re.sub(r"(?:(?<=\s)|^)\d+(?=[<>])", "", line)  # 2>file: the fd is not a word
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def rpkit_invocations(snippet: Snippet) -> list[list[str]]:
    """The arguments of every ``rpkit ...`` / ``python -m rpkit ...`` command in a shell block."""
    if snippet.language not in SHELLS:
        return []
    found: list[list[str]] = []
    for line in command_lines(snippet):
        tokens = words(line)
        command_start = True
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token in _OPERATORS or token.endswith("$("):
                command_start = True
            elif command_start and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token):
                pass  # VAR=value before the command
            elif command_start:
                command_start = False
                start = None
                if token == "rpkit":
                    start = index + 1
                elif Path(token).name.startswith("python") and tokens[index + 1 : index + 3] == [
                    "-m",
                    "rpkit",
                ]:
                    start = index + 3
                if start is not None:
                    args: list[str] = []
                    end = start
                    while end < len(tokens) and tokens[end] not in _OPERATORS:
                        if _REDIRECT.match(tokens[end]):
                            end += 2  # the operator and its file
                            continue
                        args.append(tokens[end])
                        end += 1
                    found.append(args)
                    index = end
                    continue
            index += 1
    return found


def rpkit_parse_error(argv: list[str]) -> str | None:
    """Why the CLI's own parser refuses ``rpkit ARGV``, or None when it accepts it."""
    from rpkit.cli import build_parser

    errors, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(out):
            build_parser().parse_args(argv)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            return errors.getvalue().strip() or f"exit {exit_.code}"
    return None


def variables(snippet: Snippet) -> set[str]:
    """Every ``RPKIT_*`` name the block uses."""
    return set(_VARIABLE.findall(snippet.code))


# -- running a block -----------------------------------------------------------------------


def environment(rpkit: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its ``RPKIT_*``, plus ``rpkit``; this Python's
    scripts (``rpkit``, ``flask``) first on PATH, the checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPKIT_")}
    env.update(rpkit)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_block(
    language: str, code: str, *, cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a block's code as a reader would: ``python -c`` or ``bash`` with errexit."""
    if language == "python":
        argv = [sys.executable, "-c", code]
    else:
        argv = ["bash", "-euo", "pipefail", "-c", code]
    return subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=300, check=False
    )
