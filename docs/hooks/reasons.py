"""MkDocs hook: render the reason-code tables of ``rpkit.reasons`` into the docs.

A page that holds the line ``<!-- reasons -->`` gets one table per error class, built from
the code at build time, so the troubleshooting page cannot drift from what rpkit raises.
"""

from __future__ import annotations

from typing import Any

from rpkit.reasons import REASONS

MARK = "<!-- reasons -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def reason_tables() -> str:
    parts: list[str] = []
    for error, table in REASONS.items():
        parts += [f"### `{error}`", "", "| reason | likely cause | fix |", "|---|---|---|"]
        parts += [
            f"| `{code}` | {_cell(reason.cause)} | {_cell(reason.fix)} |"
            for code, reason in sorted(table.items())
        ]
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARK, reason_tables()) if MARK in markdown else markdown
