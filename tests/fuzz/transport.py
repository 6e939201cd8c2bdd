"""An in-memory requests transport: canned answers by path, fuzzed answers from a queue.

Mounted on a ``requests.Session`` like any adapter, so rpkit's HTTP code runs unchanged
(timeouts, status mapping, streaming, size caps) without a socket per input.
"""

from __future__ import annotations

import io
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3 import HTTPResponse


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def json_answer(document: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


class QueueAdapter(BaseAdapter):
    """Answer fixed paths from ``fixed``; everything else from ``queue`` (then ``fallback``)."""

    def __init__(self, fixed: Mapping[str, Answer], fallback: Answer) -> None:
        super().__init__()
        self.fixed = dict(fixed)
        self.fallback = fallback
        self.queue: deque[Answer] = deque()
        self._builder = HTTPAdapter()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = urlsplit(request.url or "").path
        answer = self.fixed.get(path)
        if answer is None:
            answer = self.queue.popleft() if self.queue else self.fallback
        raw = HTTPResponse(
            body=io.BytesIO(answer.body),
            headers=dict(answer.headers),
            status=answer.status,
            preload_content=False,
            decode_content=False,
        )
        return self._builder.build_response(request, raw)

    def close(self) -> None:
        self._builder.close()


def session_with(adapter: QueueAdapter) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
