"""Serve the sandbox with werkzeug's threaded server, in a background thread, over http or
(``SandboxConfig.tls``) https with the sandbox's private CA."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ..errors import ConfigurationError
from .app import create_app
from .config import SandboxConfig
from .state import SandboxState
from .tls import SandboxTls

__all__ = ["SandboxServer", "redact_url"]

# The sandbox's access log, apart from the app's ("werkzeug") when both run in one process.
access_log = logging.getLogger("rpkit.sandbox.access")

# Query parameters that carry a credential or a signed message: never written to a log.
_SECRET_PARAMETERS = frozenset(
    {
        "access_token",
        "client_assertion",
        "client_secret",
        "code",
        "id_token",
        "id_token_hint",
        "logout_token",
        "password",
        "refresh_token",
        "samlrequest",
        "samlresponse",
        "signature",
        "token",
    }
)


def redact_url(target: str) -> str:
    """``target`` (a request path with its query) with every credential's value replaced."""
    parts = urlsplit(target)
    if not parts.query:
        return target
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    shown = [(k, "[redacted]" if k.lower() in _SECRET_PARAMETERS else v) for k, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(shown, safe="[]/:")))


class _Deferred:
    """A WSGI app whose target is set once the port (hence the base URL) is known."""

    target: Callable[..., Iterable[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        assert self.target is not None
        return self.target(environ, start_response)


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler with the ``Date`` header read from the sandbox clock.

    A provider's ``Date`` is how a relying party can tell its clock is off (``rpkit
    doctor``'s ``oidc.clock``), so a shifted sandbox clock must show there too.
    """

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The request line with tokens, codes and SAML messages redacted, on our own logger.
        access_log.info(
            '%s "%s %s %s" %s %s',
            self.address_string(),
            self.command,
            redact_url(self.path),
            self.request_version,
            code,
            size,
        )

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.ERROR if type == "error" else logging.INFO
        access_log.log(level, "%s %s", self.address_string(), message % args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        state: SandboxState | None = getattr(self.server, "rpkit_state", None)
        if timestamp is None and state is not None:
            timestamp = state.clock.time()
        return super().date_time_string(timestamp)


class SandboxServer:
    """One running fake Dualog.

    ``start()`` binds (port 0 picks a free port), builds the state and serves in a daemon
    thread; ``stop()`` shuts it down. Usable as a context manager.
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._state: SandboxState | None = None

    @property
    def state(self) -> SandboxState:
        """The running sandbox's state (crew store, keys, controls, clock)."""
        if self._state is None:
            raise RuntimeError("the sandbox is not started")
        return self._state

    @property
    def base_url(self) -> str:
        """The public base URL, e.g. ``http://127.0.0.1:8080``."""
        return self.state.urls.base_url

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return int(self._server.server_port)

    def start(self) -> SandboxServer:
        """Bind, build and serve in a background thread; return self."""
        deferred = _Deferred()
        tls = (
            SandboxTls(Path(self.config.data_dir), self.config.tls_hostnames)
            if self.config.tls
            else None
        )
        try:
            server = make_server(
                self.config.host,
                self.config.port,
                deferred,
                threaded=True,
                request_handler=_RequestHandler,
            )
        except (OSError, SystemExit) as err:
            # werkzeug reports a taken port by printing and calling sys.exit(1).
            raise ConfigurationError(
                f"cannot listen on {self.config.host}:{self.config.port} (in use or not allowed)"
            ) from err
        if tls is not None:
            # The handshake runs on first read, in the request's own thread: a client that
            # connects and stalls must not block the accept loop.
            server.socket = tls.context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
            server.ssl_context = tls.context  # werkzeug then sets wsgi.url_scheme=https
        host = tls.hostnames[0] if tls is not None else self.config.host
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if tls is not None else "http"
        base_url = self.config.base_url or f"{scheme}://{shown}:{server.server_port}"
        self._state = SandboxState(self.config, base_url, tls=tls)
        server.rpkit_state = self._state  # type: ignore[attr-defined]
        deferred.target = create_app(self._state)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="rpkit-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block until interrupted (the CLI's foreground mode)."""
        if self._thread is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and release the port and the database."""
        if self._state is not None:
            self._state.controls.interrupt(timeout=1.0)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._state is not None:
            self._state.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def banner(self) -> str:
        """The start-up text: every URL and a ready-to-paste env block for an app."""
        return render_banner(self.state)


def env_block(state: SandboxState) -> dict[str, str]:
    """The environment an app needs to use this sandbox (demo client and SCIM client)."""
    urls = state.urls.as_dict()
    env = {"RPKIT_OIDC_ISSUER": urls["issuer"]}
    app = state.clients.get(state.config.env_client_id or "rpkit-demo")
    if app is not None:
        env["RPKIT_OIDC_CLIENT_ID"] = app.client_id
        env["RPKIT_OIDC_CLIENT_SECRET"] = app.client_secret or ""
    if state.tls is not None:
        env["RPKIT_CA_BUNDLE"] = str(state.tls.ca_file.resolve())
    env["RPKIT_SAML_IDP_METADATA_URL"] = urls["saml_metadata"]
    env["RPKIT_SCIM_BASE_URL"] = urls["scim_base"]
    env["RPKIT_SCIM_TOKEN_URL"] = urls["token"]
    scim = state.clients.get("rpkit-scim")
    if scim is not None:
        env["RPKIT_SCIM_CLIENT_ID"] = scim.client_id
        env["RPKIT_SCIM_CLIENT_SECRET"] = scim.client_secret or ""
    return env


def render_banner(state: SandboxState) -> str:
    """Human-readable start-up text."""
    urls = state.urls.as_dict()
    width = max(len(k) for k in urls)
    lines = ["rpkit sandbox: a local fake of Dualog Identity", ""]
    lines += [f"  {name.ljust(width)}  {url}" for name, url in urls.items()]
    lines += ["", f"  admin token  {state.config.admin_token}", ""]
    if state.tls is not None:
        names = ", ".join(state.tls.hostnames)
        lines += [f"  TLS: private CA {state.tls.ca_file.resolve()}, certificate for {names}", ""]
    lines += ["Paste into your app's environment:", ""]
    lines += [f"{k}={v}" for k, v in env_block(state).items()]
    lines += ["", "Every registered client (the env block above uses the first's):", ""]
    lines += [_client_line(client) for client in _clients_for_banner(state)]
    lines += ["", f"Seeded crew sign in with password {state.seed.get('default_password', '')!r}."]
    return "\n".join(lines)


def _clients_for_banner(state: SandboxState) -> list[Any]:
    shown = state.config.env_client_id or "rpkit-demo"
    clients = list(state.clients.values())
    return sorted(clients, key=lambda c: c.client_id != shown)


def _client_line(client: Any) -> str:
    """One client as the settings an app or a SCIM job would paste."""
    secret = client.client_secret or "(public: no secret, PKCE)"
    if "client_credentials" in client.grant_types and not client.redirect_uris:
        scope = " ".join(s for s in client.scopes if s in ("crew_import", "crew_read"))
        return (
            f"  SCIM: RPKIT_SCIM_CLIENT_ID={client.client_id} "
            f"RPKIT_SCIM_CLIENT_SECRET={client.client_secret or ''} RPKIT_SCIM_SCOPE={scope}"
        )
    redirects = " ".join(client.redirect_uris) or "(none)"
    return (
        f"  OIDC: RPKIT_OIDC_CLIENT_ID={client.client_id} RPKIT_OIDC_CLIENT_SECRET={secret}"
        f"  redirect URIs: {redirects}"
    )
