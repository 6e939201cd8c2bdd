"""A tiny loopback SCIM server whose pages are under-filled, for the paging guard.

Why it stays beside the sandbox (which ``tests/scim`` uses for everything else, faults
included): it breaks the SCIM protocol itself, which a faithful fake of Dualog must never
do: pages shorter than ``itemsPerPage`` claims, an empty page before ``totalResults``,
``startIndex`` ignored, a 401 that never ends, a 400 that echoes the password it refused,
DELETE answers in a scripted order, and a record of each request's ``Accept`` header.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@dataclass
class StubPlan:
    """How the stub misbehaves: at most ``max_page`` items whatever ``count`` says, an
    ``itemsPerPage`` that claims ``count``, and optionally an early empty page."""

    users: int = 50
    max_page: int = 3
    empty_from: int | None = None
    ignore_start: bool = False
    unauthorized: bool = False
    delete_answers: list[int] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    accepts: list[str | None] = field(default_factory=list)
    tokens: int = 0


def _user(n: int) -> dict[str, Any]:
    return {
        "id": str(1000 + n),
        "userName": f"u{n}@stub.example",
        "name": {"givenName": "U", "familyName": str(n)},
        "active": True,
    }


@contextmanager
def stub_server(plan: StubPlan) -> Iterator[str]:
    """Serve the plan on 127.0.0.1:0; yield the base URL (token at ``<base>/token``)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if not self.path.endswith("/token"):
                # A careless server that echoes the rejected password.
                password = json.loads(body).get("password")
                detail = f"password {password} is too weak"
                self._send(400, {"title": "BadRequest", "status": 400, "detail": detail})
                return
            plan.tokens += 1
            self._send(200, {"access_token": "stub", "token_type": "Bearer", "expires_in": 86400})

        def do_DELETE(self) -> None:
            plan.requests.append(self.path)
            status = plan.delete_answers.pop(0) if plan.delete_answers else 204
            if status == 204:
                self.send_response(204)
                self.end_headers()
                return
            self._send(status, {"title": "Error", "status": status, "detail": "stub"})

        def do_GET(self) -> None:
            plan.requests.append(self.path)
            plan.accepts.append(self.headers.get("Accept"))
            if plan.unauthorized:
                self._send(401, {"title": "Unauthorized", "status": 401, "detail": "expired"})
                return
            query = parse_qs(urlsplit(self.path).query)
            start = 1 if plan.ignore_start else int(query.get("startIndex", ["1"])[0])
            count = int(query.get("count", ["100"])[0])
            if plan.empty_from is not None and start >= plan.empty_from:
                items: list[dict[str, Any]] = []
            else:
                last = min(plan.users, start - 1 + min(count, plan.max_page))
                items = [_user(n) for n in range(start, last + 1)]
            self._send(
                200,
                {
                    "schemas": [LIST_URN],
                    "totalResults": plan.users,
                    "startIndex": start,
                    "itemsPerPage": count,
                    "Resources": items,
                },
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
