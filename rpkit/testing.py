"""Public test helpers: a fake Dualog on loopback for your tests.

In a ``conftest.py``::

    from rpkit.testing import sandbox_fixture

    sandbox = sandbox_fixture()            # function-scoped, fresh data dir per test

or, as a pytest plugin (``pytest_plugins = ["rpkit.testing"]``), use the ``rpkit_sandbox``
fixture. Either yields a :class:`SandboxHandle`::

    def test_login(sandbox):
        sandbox.base_url, sandbox.issuer, sandbox.urls["token"]
        sandbox.set_fault("jwks", "error", status=503, times=1)
        sandbox.rotate_keys(grace_seconds=0)
        assert sandbox.request_counts()["jwks"] == 2

Owns: the public pytest helpers around the sandbox.
Must not import: the client (oidc, saml, scim, the web layers): the helpers drive the
sandbox only (floor 5).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import requests
from joserfc.jwk import KeySet

if TYPE_CHECKING:  # the sandbox needs Flask and python-xmlsec; import it only when used
    from .sandbox import SandboxServer
    from .sandbox.state import SandboxState

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_PASSWORD",
    "SCIM_CLIENT_ID",
    "SCIM_CLIENT_SECRET",
    "SCIM_READONLY_CLIENT_ID",
    "SCIM_READONLY_CLIENT_SECRET",
    "SandboxHandle",
    "sandbox_fixture",
    "sandbox_server",
]

DEMO_CLIENT_ID = "rpkit-demo"
"""The sandbox's OIDC client for the sample app (code flow, refresh and password grants)."""
DEMO_CLIENT_SECRET = "rpkit-demo-secret"
"""The secret of ``DEMO_CLIENT_ID``: a throwaway value, known to everyone."""
SCIM_CLIENT_ID = "rpkit-scim"
"""The sandbox's SCIM client (client credentials, scope ``crew_import``: reads and writes)."""
SCIM_CLIENT_SECRET = "rpkit-scim-secret"
"""The secret of ``SCIM_CLIENT_ID``: a throwaway value."""
SCIM_READONLY_CLIENT_ID = "rpkit-scim-readonly"
"""The sandbox's read-only SCIM client (scope ``crew_read``)."""
SCIM_READONLY_CLIENT_SECRET = "rpkit-scim-readonly-secret"
"""The secret of ``SCIM_READONLY_CLIENT_ID``: a throwaway value."""
DEMO_PASSWORD = "Dualog-Demo-1"
"""The password of the sandbox's seeded crew members (those without one of their own)."""


class SandboxHandle:
    """A running sandbox and its admin API, as tests use it."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self._http = requests.Session()
        if server.state.tls is not None:
            self._http.verify = str(server.state.tls.ca_file)

    @property
    def state(self) -> SandboxState:
        """Direct access to the crew store, keys, clock and controls (same process)."""
        return self.server.state

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self.server.base_url

    @property
    def issuer(self) -> str:
        """``<base_url>/auth``, as on Dualog."""
        return self.state.issuer

    @property
    def urls(self) -> dict[str, str]:
        """Every public URL by name (``token``, ``jwks``, ``saml_metadata``, ``scim_base``...)."""
        return self.state.urls.as_dict()

    @property
    def local_url(self) -> str:
        """Where this process reaches the server (differs from ``base_url`` behind a proxy).

        Over TLS it uses the certificate's first host name, so the name check passes.
        """
        tls = self.state.tls
        host = tls.hostnames[0] if tls is not None else self.server.config.host
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if tls is not None else "http"
        return f"{scheme}://{shown}:{self.server.port}"

    @property
    def ca_bundle(self) -> str | None:
        """The private CA file to trust (``RPKIT_CA_BUNDLE``) when the sandbox serves https."""
        tls = self.state.tls
        return str(tls.ca_file) if tls is not None else None

    def _local(self, url: str) -> str:
        return self.local_url + url.removeprefix(self.base_url)

    @property
    def admin_token(self) -> str:
        """The bearer token of the admin API."""
        return self.state.config.admin_token

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call the admin API (``path`` under ``/_sandbox``); raise ``AdminCallError`` (an
        ``OSError``) on a non-2xx answer. Over TLS the sandbox's own certificates are
        pinned, so this works while a TLS fault is on."""
        from .sandbox.admin_client import call_admin

        tls = self.state.tls
        return call_admin(
            self.local_url,
            path,
            token=self.admin_token,
            method=method,
            body=json,
            pins=tls.fingerprints() if tls is not None else (),
        )

    def reset(self) -> None:
        """Restore the seed; clear sessions, faults, counts, claim overrides, clock offset."""
        self.admin("POST", "reset")

    @overload
    def request_counts(self, by_method: Literal[False] = False) -> dict[str, int]: ...

    @overload
    def request_counts(self, by_method: Literal[True]) -> dict[str, dict[str, int]]: ...

    def request_counts(self, by_method: bool = False) -> dict[str, Any]:
        """Requests per endpoint name (``discovery``, ``jwks``, ``token``...) since reset.

        With ``by_method=True``, per endpoint and HTTP method:
        ``{"scim_users": {"GET": 3, "POST": 1}}``.
        """
        counts: dict[str, Any] = self.admin(
            "GET", "requests?by=method" if by_method else "requests"
        )
        return counts

    def response_counts(self) -> dict[str, dict[str, int]]:
        """Answers per endpoint name and HTTP status since reset: ``{"token": {"400": 1}}``
        (a token endpoint that answered only 4xx issued no token)."""
        counts: dict[str, dict[str, int]] = self.admin("GET", "requests?by=status")
        return counts

    def reset_counts(self) -> None:
        """Zero the request counts."""
        self.admin("DELETE", "requests")

    def set_fault(self, endpoint: str, kind: str, **options: Any) -> None:
        """Inject a fault: ``kind`` is ``latency`` (``delay``; ``when="after"`` handles the
        request first and delays only the answer), ``error`` (``status``), ``rate_limit``
        (``retry_after``) or ``malformed``; ``times`` limits it, ``every=N`` hits only every
        Nth request."""
        self.admin("PUT", f"faults/{endpoint}", {"kind": kind, **options})

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.admin("DELETE", "faults")

    def set_next_token_claims(self, claims: Mapping[str, Any], token: str = "id_token") -> None:
        """Override claims in the next ``id_token``/``access_token``/``userinfo`` (None
        deletes a claim)."""
        self.admin("POST", "next-token-claims", {"token": token, "claims": dict(claims)})

    def rotate_keys(self, *, grace_seconds: float = 300, publish: bool = True) -> str:
        """Sign with a new key (unpublished if ``publish`` is False); return its ``kid``."""
        result = self.admin(
            "POST", "keys/rotate", {"grace_seconds": grace_seconds, "publish": publish}
        )
        return str(result["kid"])

    def publish_keys(self) -> None:
        """Publish every key in the ring."""
        self.admin("POST", "keys/publish")

    def rotate_saml_cert(self, *, grace_seconds: float = 300, publish: bool = True) -> str:
        """Sign SAML messages with a new certificate; return its SHA-256 fingerprint."""
        result = self.admin(
            "POST", "saml/keys/rotate", {"grace_seconds": grace_seconds, "publish": publish}
        )
        return str(result["sha256"])

    def shift_clock(self, seconds: float) -> None:
        """Move the sandbox clock by ``seconds`` (tokens expire, contracts end)."""
        self.admin("POST", "clock", {"advance_seconds": seconds})

    def set_clock_offset(self, seconds: float) -> None:
        """Set the sandbox clock to real time plus ``seconds`` (its ``Date`` header too)."""
        self.admin("POST", "clock", {"offset_seconds": seconds})

    def serve_tls_certificate(self, certificate: str) -> None:
        """Serve another TLS certificate to new connections (``expired``, ``expiring``,
        ``wrong_name``, ``unknown_ca``, ``self_signed``, or ``valid`` again)."""
        self.admin("PUT", "tls", {"certificate": certificate})

    def set_metadata_valid_for(self, seconds: float | None) -> None:
        """Make the SAML metadata's ``validUntil`` now + ``seconds`` (negative: expired;
        None: the default 5 days)."""
        self.admin("PUT", "saml/metadata", {"valid_for_seconds": seconds})

    def set_client_secret(self, client_id: str, client_secret: str) -> None:
        """Give a registered client a new secret (reset restores the configured one)."""
        self.admin("POST", f"clients/{client_id}/secret", {"client_secret": client_secret})

    def register_sp(self, metadata: str, **switches: Any) -> None:
        """Register a SAML SP from its metadata XML, with optional per-SP switches
        (``require_signed_requests``, ``attribute_names``, ``claims_mapping``,
        ``name_id_format``)."""
        self.admin("POST", "service-providers", {"metadata": metadata, **switches})

    def backchannel_logout(self, user_name: str) -> list[dict[str, Any]]:
        """End ``user_name``'s sessions and send OIDC back-channel logout tokens now.

        Returns one outcome per client notified (``client_id``, ``uri``, ``ok``, ``status``,
        ``error``, ``sid``, ``jti``...).
        """
        result = self.admin("POST", "backchannel-logout", {"user": user_name})
        deliveries: list[dict[str, Any]] = result["deliveries"]
        return deliveries

    def backchannel_deliveries(self) -> list[dict[str, Any]]:
        """Every back-channel logout delivery since reset, oldest first."""
        deliveries: list[dict[str, Any]] = self.admin("GET", "backchannel-deliveries")
        return deliveries

    def jwks(self) -> dict[str, Any]:
        """The published JWKS (counts as a JWKS request)."""
        data: dict[str, Any] = self._http.get(self._local(self.urls["jwks"]), timeout=10).json()
        return data

    def key_set(self) -> KeySet:
        """The published JWKS as a joserfc ``KeySet`` (counts as a JWKS request)."""
        return KeySet.import_key_set(self.jwks())  # type: ignore[arg-type]

    def scim_token(self, scope: str = "crew_import") -> str:
        """A client-credentials access token for the SCIM API."""
        client = (
            (SCIM_READONLY_CLIENT_ID, SCIM_READONLY_CLIENT_SECRET)
            if scope == "crew_read"
            else (SCIM_CLIENT_ID, SCIM_CLIENT_SECRET)
        )
        response = self._http.post(
            self._local(self.urls["token"]),
            data={"grant_type": "client_credentials", "scope": scope},
            auth=client,
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def password_tokens(
        self,
        user_name: str,
        *,
        password: str = DEMO_PASSWORD,
        scope: str = "openid profile email crew.public offline_access",
    ) -> dict[str, Any]:
        """Tokens for a crew member via the (legacy) password grant and the demo client.

        As from IdentityServer: an access token (and a refresh token for
        ``offline_access``), no ID token. Use :meth:`code_tokens` for an ID token.
        """
        return self._demo_client_tokens(
            {"grant_type": "password", "username": user_name, "password": password, "scope": scope}
        )

    def _demo_client_tokens(self, grant: dict[str, str]) -> dict[str, Any]:
        """POST ``grant`` to the token endpoint as the demo client; the tokens it answers."""
        response = self._http.post(
            self._local(self.urls["token"]),
            data=grant,
            auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
            timeout=10,
        )
        response.raise_for_status()
        tokens: dict[str, Any] = response.json()
        return tokens

    def code_tokens(
        self,
        user_name: str,
        *,
        scope: str = "openid profile email crew.public offline_access",
        redirect_uri: str | None = None,
        nonce: str = "n-sandbox",
    ) -> dict[str, Any]:
        """Tokens for a crew member via a code flow with PKCE and the demo client.

        Plays the browser: opens the login page, clicks ``user_name``'s crew card and
        exchanges the code. The token response carries the ID token of a browser
        sign-in (with ``sid``).
        """
        import base64
        import hashlib
        import secrets
        from urllib.parse import parse_qs, urlsplit

        client = self.state.clients[DEMO_CLIENT_ID]
        redirect = redirect_uri or client.redirect_uris[0]
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        params = {
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": redirect,
            "scope": scope,
            "state": secrets.token_urlsafe(8),
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        with requests.Session() as browser:
            page = browser.get(self._local(self.urls["authorize"]), params=params, timeout=10)
            page.raise_for_status()
            answer = browser.post(
                page.url, data={"card": user_name}, allow_redirects=False, timeout=10
            )
        if answer.status_code != 302:
            raise AssertionError(f"sign-in of {user_name} failed: HTTP {answer.status_code}")
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        return self._demo_client_tokens(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
            }
        )

    def close(self) -> None:
        """Stop the server."""
        self._http.close()
        self.server.stop()


@contextmanager
def sandbox_server(data_dir: str | Path | None = None, **config: Any) -> Iterator[SandboxHandle]:
    """Run a sandbox on 127.0.0.1, port 0, in this process; stop it on exit.

    ``config`` overrides :class:`rpkit.sandbox.SandboxConfig` fields (``clients``,
    ``service_providers``, ``allow_any_sp``...). Without ``data_dir`` a temporary directory
    is used and removed afterwards.
    """
    from .sandbox import SandboxConfig, SandboxServer

    with tempfile.TemporaryDirectory(prefix="rpkit-sandbox-") as tmp:
        directory = Path(data_dir) if data_dir is not None else Path(tmp)
        settings: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "data_dir": directory}
        settings.update(config)
        handle = SandboxHandle(SandboxServer(SandboxConfig(**settings)).start())
        try:
            yield handle
        finally:
            handle.close()


def sandbox_fixture(
    *, scope: str = "function", name: str | None = None, **config: Any
) -> Callable[..., Any]:
    """Make a pytest fixture yielding a :class:`SandboxHandle` (fresh temp data dir).

    Assign it in a conftest: ``sandbox = sandbox_fixture()``.
    """
    import pytest

    def _fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
        with sandbox_server(tmp_path_factory.mktemp("rpkit-sandbox"), **config) as handle:
            yield handle

    return pytest.fixture(scope=scope, name=name)(_fixture)  # type: ignore[call-overload,no-any-return]


try:  # pytest plugin: ``pytest_plugins = ["rpkit.testing"]`` gives the ``rpkit_sandbox`` fixture.
    import pytest as _pytest  # noqa: F401
except ImportError:  # pragma: no cover - pytest is a test-time dependency
    pass
else:
    rpkit_sandbox = sandbox_fixture(name="rpkit_sandbox")
