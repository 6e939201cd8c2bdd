"""Call a running sandbox's admin API (``/_sandbox/...``) over http or https.

Over https the server certificate is pinned to the certificates the sandbox wrote into its
data directory instead of verified against a CA, so the admin API stays usable while a TLS
fault serves an expired, foreign or self-signed certificate. The admin token is sent only
after the pin matched.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

__all__ = ["AdminCallError", "call_admin"]


class AdminCallError(OSError):
    """The admin call failed: unreachable, an unknown certificate, or a non-2xx answer."""


def call_admin(
    url: str,
    path: str,
    *,
    token: str,
    method: str = "GET",
    body: Any = None,
    pins: Collection[str] = (),
    timeout: float = 10.0,
) -> Any:
    """Send one admin request to the sandbox at ``url`` and return its JSON answer.

    ``pins`` are the SHA-256 fingerprints (hex) a https server's certificate must have.

    Raises:
        AdminCallError: the sandbox is unreachable, its certificate is not pinned, or it
            answered something other than 2xx JSON.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        if not pins:
            raise AdminCallError(
                f"no pinned certificate for {url}: give the sandbox's --data-dir (it holds tls/)"
            )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the pin below is the trust
        conn = http.client.HTTPSConnection(
            host, parts.port or 443, timeout=timeout, context=context
        )
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
    else:
        raise AdminCallError(f"the sandbox URL {url!r} must be http or https")
    try:
        conn.connect()
        if parts.scheme == "https":
            assert isinstance(conn.sock, ssl.SSLSocket)
            der = conn.sock.getpeercert(binary_form=True) or b""
            if hashlib.sha256(der).hexdigest() not in set(pins):
                raise AdminCallError(
                    f"{url} presented a certificate this sandbox's data directory does not hold"
                )
        data = json.dumps(body).encode() if body is not None else None
        prefix = parts.path.rstrip("/")
        conn.request(
            method,
            f"{prefix}/_sandbox/{path.lstrip('/')}",
            body=data,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        raw = response.read()
    except AdminCallError:
        raise
    except (OSError, http.client.HTTPException) as err:
        raise AdminCallError(f"the sandbox admin API at {url} is unreachable: {err}") from err
    finally:
        conn.close()
    try:
        answer = json.loads(raw) if raw else None
    except ValueError as err:
        raise AdminCallError(f"the sandbox admin API answered HTTP {response.status}") from err
    if not 200 <= response.status < 300:
        detail = answer.get("detail") if isinstance(answer, dict) else None
        raise AdminCallError(f"the sandbox admin API answered HTTP {response.status}: {detail}")
    return answer
