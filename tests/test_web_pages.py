"""rpkit.web.pages.wants_json decides JSON-or-page as Flask's request.accept_mimetypes did."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers, MIMEAccept
from werkzeug.http import parse_accept_header

from rpkit.web.pages import wants_json

ACCEPTS = [
    "",
    "*/*",
    "application/json",
    "text/html",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "application/json, text/plain, */*",
    "application/json;q=0.9, text/html;q=0.9",
    "application/json;q=0.5, text/html;q=0.4",
    "text/*;q=0.3, application/json;q=0.2",
    "text/html;q=0, application/json",
    "application/*, text/html;q=0.5",
    "application/json;q=junk, text/html",
    "APPLICATION/JSON",
]


def _werkzeug(accept: str) -> bool:
    parsed = parse_accept_header(accept, MIMEAccept)
    best = parsed.best_match(["text/html", "application/json"])
    return best == "application/json" and parsed["application/json"] > parsed["text/html"]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_accept_header_as_werkzeug_reads_it(accept: str) -> None:
    assert wants_json(Headers({"Accept": accept})) is _werkzeug(accept)


def test_script_and_bearer_clients_get_json() -> None:
    assert wants_json(Headers({"X-Requested-With": "XMLHttpRequest", "Accept": "text/html"}))
    assert wants_json(Headers({"Authorization": "Bearer abc", "Accept": "text/html"}))
    assert not wants_json(Headers({"Authorization": "Basic abc"}))
