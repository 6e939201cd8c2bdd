"""A scriptable OpenID provider on loopback, for tests that need a hostile or broken OP.

It signs real tokens with real keys and serves real HTTP (or HTTPS, with ``tls``); each
test turns knobs (``id_token_claims``, ``id_token_header``, ``sign_with``, ``fail``...) to
reproduce one misbehaviour. ``counts`` records requests per path so tests can assert network
cost; ``authorize_requests``, ``token_requests``, ``userinfo_requests`` and
``end_session_requests`` record what the relying party sent.

Why it stays beside the sandbox: a test that only needs a provider uses the sandbox
(``rpkit.testing``; ``oidc_sandbox`` and the ``sandbox`` fixture in ``conftest.py``:
``test_flow_smoke.py``, ``test_user_claims.py``, ``test_browser_binding.py``, the disk
copy of ``test_clock.py``, the login costs of ``test_resilience.py``), whose next-token
claims, faults and request counts cover a provider that omits or changes a claim, fails
an endpoint or must be counted. The sandbox is a
faithful Duende imitation and, on purpose, cannot do what these tests need: sign with a
key it does not publish or with ``alg: none``, put the wrong ``iss``/``aud``/``nonce``/
``at_hash`` in a token, echo another ``state``, answer the token endpoint with any status
and body, publish an empty or weak JWKS, hold a JWKS answer until the test releases it, or
die and keep its port. ``benchmarks/login_throughput.py`` also runs it: its authorize
endpoint answers at once without a login page, so the benchmark measures the app, not the
provider's pages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from joserfc import jws
from joserfc.jwk import ECKey, OctKey, RSAKey

from rpkit.oidc.id_token import token_hash

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret-0123456789-0123456789"
REDIRECT_URI = "http://127.0.0.1:5999/callback"
JWKS_PATH = "/auth/.well-known/openid-configuration/jwks"


# Ingrid's user claims: in the ID token when ``user_claims_in_id_token`` (IdentityServer's
# AlwaysIncludeUserClaimsInIdToken), and always in userinfo.
USER_CLAIMS: dict[str, Any] = {
    "email": "ingrid.hansen@nordic-tankers.example",
    "name": "Ingrid Hansen",
    "given_name": "Ingrid",
    "family_name": "Hansen",
    "rank": "Chief Officer",
    "department": "Deck",
    "ship_name": "MV Nordic Star",
    "ship_imo": "9074729",
}


def new_rsa_key(kid: str | None) -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"kid": kid} if kid else None, auto_kid=False)
    return key


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    scope: str
    sub: str


def sign_jwt(
    claims: dict[str, Any],
    key: RSAKey | ECKey | OctKey | None,
    *,
    alg: str = "RS256",
    header: dict[str, Any] | None = None,
) -> str:
    """Sign ``claims``; ``key=None`` with ``alg='none'`` makes an unsigned token."""
    hdr: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if key is not None and key.kid:
        hdr["kid"] = key.kid
    hdr.update(header or {})
    hdr = {k: v for k, v in hdr.items() if v is not None}
    if alg == "none":

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        return f"{b64(json.dumps(hdr).encode())}.{b64(json.dumps(claims).encode())}."
    registry = jws.JWSRegistry(algorithms=[alg], strict_check_header=False)
    return jws.serialize_compact(hdr, json.dumps(claims).encode(), key, registry=registry)


@dataclass
class FakeOP:
    """Knobs, then ``start()``; ``issuer`` is ``http://127.0.0.1:<port>/auth``."""

    keys: list[Any] = field(default_factory=lambda: [new_rsa_key("k1")])
    published: list[Any] | None = None  # keys in the JWKS; defaults to ``keys``
    sign_with: Any = None  # key used to sign; defaults to keys[0]
    alg: str = "RS256"
    sub: str = "crew-1001"
    sub_for: Callable[[dict[str, str]], str] | None = None  # per authorization request
    id_token_claims: dict[str, Any] = field(default_factory=dict)  # overrides; None deletes
    id_token_header: dict[str, Any] = field(default_factory=dict)
    userinfo_claims: dict[str, Any] = field(default_factory=dict)
    # False: the ID token carries protocol claims only, user claims come from userinfo
    # (IdentityServer's default, AlwaysIncludeUserClaimsInIdToken off).
    user_claims_in_id_token: bool = True
    discovery_overrides: dict[str, Any] = field(default_factory=dict)
    refresh_claims: dict[str, Any] = field(default_factory=dict)
    fail: set[str] = field(default_factory=set)  # path suffixes answered with HTTP 500
    authorize_error: str | None = None
    authorize_error_description: str = "The user said no"
    callback_extra: dict[str, str] = field(default_factory=dict)
    callback_state: str | None = None  # override the state echoed back
    callback_iss: bool = False  # add RFC 9207 ``iss`` to the authorization response
    logout_state: str | None = None  # override the state echoed after end_session
    logout_drop_state: bool = False  # return from end_session without ``state``
    jwks_path: str = JWKS_PATH
    # Set to hold JWKS responses until the test releases them (single-flight tests);
    # ``jwks_requested`` is set when a JWKS request arrives.
    jwks_gate: threading.Event | None = None
    jwks_requested: threading.Event = field(default_factory=threading.Event)
    # Replace the token endpoint's answer: form -> (status, body); a str body is sent as-is.
    token_response: Callable[[dict[str, str]], tuple[int, Any]] | None = None
    client_credentials_expires_in: int = 86400
    users: dict[str, str] = field(default_factory=lambda: {"ingrid": "Sjoe-Mann-2026!"})
    client_secret: str = CLIENT_SECRET  # what the token endpoint accepts for CLIENT_ID
    tls: ssl.SSLContext | None = None  # serve HTTPS with this server context
    counts: Counter[str] = field(default_factory=Counter)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    token_responses: list[tuple[int, Any]] = field(default_factory=list)
    userinfo_requests: list[dict[str, Any]] = field(default_factory=list)
    end_session_requests: list[dict[str, str]] = field(default_factory=list)
    issued_id_tokens: list[str] = field(default_factory=list)
    issued_access_tokens: set[str] = field(default_factory=set)
    grants: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    token_hook: Callable[[dict[str, Any]], None] | None = None
    _held: socket.socket | None = field(default=None, repr=False)  # see stop(hold_port=True)

    def start(self, *, sock: socket.socket | None = None) -> FakeOP:
        """Serve on a fresh loopback port, or on ``sock`` (bound, not yet listening).

        Passing ``sock`` lets a test hold a port that refuses connections (bound but not
        listening: the provider is down) and later bring the provider up on it.
        """
        op = self

        class Handler(BaseHTTPRequestHandler):
            # Headers and body leave in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK hold every answer ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                op._handle(self, "GET")

            def do_POST(self) -> None:
                op._handle(self, "POST")

        server = _Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
        server.tls = self.tls
        if sock is None:
            server.server_bind()
        else:
            server.socket.close()
            server.socket = sock
            server.server_address = sock.getsockname()
        server.server_activate()
        self._server = server
        self._lock = threading.Lock()
        self.port = server.server_address[1]
        scheme = "https" if self.tls is not None else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.issuer = f"{self.base}/auth"
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        self._running = True
        return self

    def stop(self, *, hold_port: bool = False) -> None:
        """Stop serving; connections are then refused. Idempotent.

        ``hold_port`` keeps the port bound (not listening) so that no other test's server
        can take it while this provider is "down"; a later plain ``stop()`` releases it.
        """
        if getattr(self, "_running", False):
            self._running = False
            self._server.shutdown()
            self._server.server_close()
        held = self._held
        if hold_port and held is None:
            held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            held.bind(("127.0.0.1", self.port))
            self._held = held
        elif not hold_port and held is not None:
            held.close()
            self._held = None

    # -- documents -------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        doc = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/connect/authorize",
            "token_endpoint": f"{self.issuer}/connect/token",
            "userinfo_endpoint": f"{self.issuer}/connect/userinfo",
            "jwks_uri": f"{self.base}{self.jwks_path}",
            "end_session_endpoint": f"{self.issuer}/connect/endsession",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "none"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "backchannel_logout_supported": True,
        }
        doc.update(self.discovery_overrides)
        return {k: v for k, v in doc.items() if v is not None}

    def jwks(self) -> dict[str, Any]:
        keys = self.keys if self.published is None else self.published
        return {"keys": [k.as_dict(private=False) for k in keys if not isinstance(k, OctKey)]}

    def id_token(self, grant: Grant, access_token: str, *, extra: dict[str, Any]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.sub,
            "aud": grant.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": now - 5,
            "nonce": grant.nonce,
            "at_hash": token_hash(access_token, self.alg),
            **(USER_CLAIMS if self.user_claims_in_id_token else {}),
        }
        claims.update(self.id_token_claims)
        claims.update(extra)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.sign_with if self.sign_with is not None else self.keys[0]
        token = sign_jwt(
            claims, key if self.alg != "none" else None, alg=self.alg, header=self.id_token_header
        )
        self.issued_id_tokens.append(token)
        return token

    def signed_logout_token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(8),
            "sub": self.sub,
            "sid": "sid-1",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }
        header = overrides.pop("_header", {"typ": "logout+jwt"})
        alg = overrides.pop("_alg", "RS256")
        key = overrides.pop("_key", self.keys[0])
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return sign_jwt(claims, key, alg=alg, header=header)

    # -- HTTP ------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(req.path)
        path = parts.path
        with self._lock:
            self.counts[path] += 1
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body: dict[str, str] = {}
        if method == "POST":
            length = int(req.headers.get("Content-Length") or 0)
            body = {k: v[0] for k, v in parse_qs(req.rfile.read(length).decode()).items()}
        if any(path.endswith(f) for f in self.fail):
            return self._send(req, 500, {"error": "server_error"})
        if path == "/auth/.well-known/openid-configuration":
            return self._send(req, 200, self.discovery())
        if path == self.jwks_path:
            self.jwks_requested.set()
            if self.jwks_gate is not None:
                self.jwks_gate.wait(10)
            return self._send(req, 200, self.jwks())
        if path == "/auth/connect/authorize":
            return self._authorize(req, query)
        if path == "/auth/connect/token":
            return self._token(req, body)
        if path == "/auth/connect/userinfo":
            auth = req.headers.get("Authorization", "")
            self.userinfo_requests.append({"query": query, "body": body, "auth": auth})
            if not auth.startswith("Bearer "):
                return self._send(req, 401, {"error": "invalid_token"})
            if auth[7:] not in self.issued_access_tokens:
                # A chatty provider that quotes the token back, as some do.
                description = f"token {auth[7:]} is not active"
                return self._send(
                    req, 401, {"error": "invalid_token", "error_description": description}
                )
            claims = {"sub": self.sub, **USER_CLAIMS}
            claims.update(self.userinfo_claims)
            claims = {k: v for k, v in claims.items() if v is not None}
            return self._send(req, 200, claims)
        if path == "/auth/connect/endsession":
            return self._end_session(req, query)
        return self._send(req, 404, {"error": "not_found"})

    def _end_session(self, req: BaseHTTPRequestHandler, q: dict[str, str]) -> None:
        self.end_session_requests.append(q)
        hint = q.get("id_token_hint")
        if hint is not None and hint not in self.issued_id_tokens:
            return self._send(req, 400, {"error": "invalid_request"})
        if q.get("client_id") not in (None, CLIENT_ID):
            return self._send(req, 400, {"error": "invalid_client"})
        target = q.get("post_logout_redirect_uri", "")
        if not target:
            return self._send(req, 200, {"logged_out": True})
        state = self.logout_state if self.logout_state is not None else q.get("state")
        extra = {"state": state} if state is not None and not self.logout_drop_state else {}
        return self._redirect(req, target + ("?" + urlencode(extra) if extra else ""))

    def _authorize(self, req: BaseHTTPRequestHandler, q: dict[str, str]) -> None:
        self.authorize_requests.append(q)
        state = self.callback_state if self.callback_state is not None else q.get("state", "")
        params: dict[str, str] = {"state": state} if state else {}
        if self.authorize_error:
            params.update(
                error=self.authorize_error, error_description=self.authorize_error_description
            )
        else:
            code = secrets.token_urlsafe(16)
            self.grants[code] = Grant(
                client_id=q["client_id"],
                redirect_uri=q["redirect_uri"],
                nonce=q.get("nonce"),
                code_challenge=q.get("code_challenge"),
                scope=q.get("scope", ""),
                sub=self.sub_for(q) if self.sub_for is not None else self.sub,
            )
            params["code"] = code
        if self.callback_iss:
            params["iss"] = self.issuer
        params.update(self.callback_extra)
        if q.get("response_mode") == "form_post":
            inputs = "".join(
                f'<input type="hidden" name="{k}" value="{v}">' for k, v in params.items()
            )
            html = f'<form method="post" action="{q["redirect_uri"]}">{inputs}</form>'
            return self._send(req, 200, html, content_type="text/html")
        return self._redirect(req, q["redirect_uri"] + "?" + urlencode(params))

    def _token(self, req: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        self.token_requests.append({"form": form, "auth": req.headers.get("Authorization")})
        if self.token_hook:
            self.token_hook(form)
        if self.token_response is not None:
            status, body = self.token_response(form)
            content_type = "text/html" if isinstance(body, str) else "application/json"
            return self._send(req, status, body, content_type=content_type)
        if not self._client_authenticated(req, form):
            return self._send(req, 401, {"error": "invalid_client"})
        grant_type = form.get("grant_type")
        access_token = secrets.token_urlsafe(24)
        self.issued_access_tokens.add(access_token)
        if grant_type == "authorization_code":
            grant = self.grants.pop(form.get("code", ""), None)
            if grant is None:
                return self._send(req, 400, {"error": "invalid_grant"})
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if challenge.rstrip(b"=").decode() != grant.code_challenge:
                return self._send(
                    req, 400, {"error": "invalid_grant", "error_description": "PKCE mismatch"}
                )
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = grant
            return self._send(
                req,
                200,
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "refresh_token": refresh,
                    "id_token": self.id_token(grant, access_token, extra={}),
                },
            )
        if grant_type == "refresh_token":
            grant = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if grant is None:
                return self._send(req, 400, {"error": "invalid_grant"})
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = grant
            extra = {"nonce": None, **self.refresh_claims}
            return self._send(
                req,
                200,
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "refresh_token": refresh,
                    "id_token": self.id_token(grant, access_token, extra=extra),
                },
            )
        if grant_type == "client_credentials":
            return self._send(
                req,
                200,
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": self.client_credentials_expires_in,
                    "scope": form.get("scope", ""),
                },
            )
        if grant_type == "password":
            username = form.get("username", "")
            if self.users.get(username) != form.get("password"):
                return self._send(
                    req, 400, {"error": "invalid_grant", "error_description": "bad credentials"}
                )
            return self._send(
                req,
                200,
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "refresh_token": secrets.token_urlsafe(24),
                    "scope": form.get("scope", ""),
                },
            )
        return self._send(req, 400, {"error": "unsupported_grant_type"})

    def _client_authenticated(self, req: BaseHTTPRequestHandler, form: dict[str, str]) -> bool:
        """Check client_secret_basic or client_secret_post; accept any client assertion.

        Tests verify a ``private_key_jwt`` assertion themselves, with the client's public key.
        """
        auth = req.headers.get("Authorization")
        if auth is not None:
            if not auth.startswith("Basic "):
                return False
            try:
                user, _, password = base64.b64decode(auth[6:]).decode("ascii").partition(":")
            except ValueError:  # not base64, or raw non-ASCII instead of %-encoding
                return False
            # RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
            return unquote_plus(user) == CLIENT_ID and unquote_plus(password) == self.client_secret
        if "client_assertion" in form:
            return form.get("client_assertion_type") == (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            )
        return (
            form.get("client_id") == CLIENT_ID and form.get("client_secret") == self.client_secret
        )

    def _send(
        self,
        req: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        content_type: str = "application/json",
    ) -> None:
        if urlsplit(req.path).path == "/auth/connect/token":
            self.token_responses.append((status, body))
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _redirect(self, req: BaseHTTPRequestHandler, location: str) -> None:
        req.send_response(302)
        req.send_header("Location", location)
        req.send_header("Content-Length", "0")
        req.end_headers()


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that speaks TLS when ``tls`` is set."""

    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            return  # the client refused our certificate; nothing to answer
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()
