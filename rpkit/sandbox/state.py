"""The sandbox's shared state: config, clock, crew store, keys, controls and live sessions."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .backchannel import BackchannelLogout, Delivery
from .clock import SandboxClock
from .config import OidcClientConfig, SandboxConfig
from .controls import Controls
from .crew import CrewStore, load_seed
from .keys import KeyRing, SamlKeyPair, SamlKeyRing
from .saml_sp import RegisteredSP, sp_from_config
from .tls import SandboxTls
from .tokens import TokenService

__all__ = ["AuthorizationCode", "RefreshToken", "SandboxState", "Urls"]

SCIM_PREFIX = "/api/cd-customer-scim-public-api/api/scim/v2"
SCIM_LEGACY_PREFIX = "/api/cd-customer-scim-public-api/api/v2"


@dataclass(frozen=True, slots=True)
class Urls:
    """Every public URL of one sandbox, derived from its base URL."""

    base_url: str

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/auth"

    def as_dict(self) -> dict[str, str]:
        """Name -> URL for printing and for the admin API."""
        issuer = self.issuer
        return {
            "issuer": issuer,
            "discovery": f"{issuer}/.well-known/openid-configuration",
            "authorize": f"{issuer}/connect/authorize",
            "token": f"{issuer}/connect/token",
            "userinfo": f"{issuer}/connect/userinfo",
            "jwks": f"{issuer}/.well-known/openid-configuration/jwks",
            "endsession": f"{issuer}/connect/endsession",
            "saml_metadata": f"{issuer}/saml/metadata",
            "saml_sso": f"{issuer}/saml/sso",
            "saml_slo": f"{issuer}/saml/slo",
            "scim_base": f"{self.base_url}{SCIM_PREFIX}",
            "scim_legacy_base": f"{self.base_url}{SCIM_LEGACY_PREFIX}",
            "admin": f"{self.base_url}/_sandbox",
        }


@dataclass(slots=True)
class AuthorizationCode:
    """One issued authorization code (Authlib's AuthorizationCodeMixin surface)."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user_id: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float
    sid: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass(slots=True)
class RefreshToken:
    """One issued refresh token (Authlib's TokenMixin surface)."""

    token: str
    client_id: str
    user_id: str
    scope: str
    expires_at: float
    auth_time: int
    revoked: bool = False
    sid: str | None = None

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass(slots=True)
class IdpSession:
    """A browser's signed-in session at the sandbox (for SSO logout).

    ``sid`` is the public session id put in ID and logout tokens (never the cookie value,
    which would let an RP hijack the session); ``oidc_clients`` are the client ids it
    signed in to, in order.
    """

    user_id: str
    session_index: str
    sid: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    saml_sps: dict[str, str] = field(default_factory=dict)  # SP entity ID -> NameID sent
    oidc_clients: list[str] = field(default_factory=list)


class SandboxState:
    """Everything one running sandbox shares between requests."""

    def __init__(
        self, config: SandboxConfig, base_url: str, *, tls: SandboxTls | None = None
    ) -> None:
        self.config = config
        #: The private CA and served certificate when the sandbox serves https.
        self.tls = tls
        self.urls = Urls(base_url.rstrip("/"))
        self.issuer = self.urls.issuer
        self.clock = SandboxClock()
        self.controls = Controls()
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.seed = load_seed(Path(config.seed_file))
        self.store = CrewStore(data_dir / "crew.sqlite3")
        if self.store.is_empty():
            self.store.reset(self.seed, self.clock.now())
        self.keys = KeyRing(data_dir / "oidc-keys.json", self.clock)
        self.saml_key_ring = SamlKeyRing(data_dir, self.issuer, self.clock)
        self.tokens = TokenService(
            issuer=self.issuer, keys=self.keys, clock=self.clock, controls=self.controls
        )
        self.clients: dict[str, OidcClientConfig] = {c.client_id: c for c in config.clients}
        self.backchannel = BackchannelLogout(
            clients=self.clients,
            tokens=self.tokens,
            controls=self.controls,
            clock=self.clock,
            timeout=config.backchannel_logout_timeout,
        )
        self.lock = threading.Lock()
        self.codes: dict[str, AuthorizationCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.sessions: dict[str, IdpSession] = {}
        self.pending_saml: dict[str, Any] = {}
        self.used_nonces: set[tuple[str, str]] = set()
        self.service_providers: dict[str, RegisteredSP] = {}
        # SP entity ID -> signing certificates read from the metadata at that entity ID.
        self.fetched_sp_certs: dict[str, tuple[bytes, ...]] = {}
        for sp_config in config.service_providers:
            sp = sp_from_config(sp_config)
            self.service_providers[sp.entity_id] = sp

    def set_client_secret(self, client_id: str, client_secret: str) -> None:
        """Give a registered client a new secret, as a rotation in the portal would; the
        app's configured secret is then wrong until it is updated. ``reset`` restores it."""
        with self.lock:
            client = self.clients.get(client_id)
            if client is None:
                raise KeyError(client_id)
            self.clients[client_id] = replace(client, client_secret=client_secret)

    @property
    def saml_keys(self) -> SamlKeyPair:
        """The SAML key pair that signs now (see ``saml_key_ring`` for rotation)."""
        return self.saml_key_ring.signing

    def reset(self) -> None:
        """Restore the seed, clear sessions, codes, tokens, faults (TLS ones too), counts and
        the clock offset.

        Every signing key is published again, so a test that rotated to an unpublished
        key does not leave the next one with an empty JWKS; the SAML metadata lists only
        the current signing certificate again. Injected delays are cut short
        first and requests in flight get a few seconds to finish, so a write a test left
        behind (a client timed out on it) lands before the seed is restored, not after.
        """
        self.controls.interrupt()
        self.clock.set_offset(0)
        self.keys.publish_all()
        self.saml_key_ring.reset()
        self.store.reset(self.seed, self.clock.now())
        self.controls.reset()
        self.backchannel.clear()
        if self.tls is not None:
            self.tls.serve("valid")
        with self.lock:
            self.clients.clear()
            self.clients.update({c.client_id: c for c in self.config.clients})
            self.codes.clear()
            self.refresh_tokens.clear()
            self.sessions.clear()
            self.pending_saml.clear()
            self.used_nonces.clear()
            self.fetched_sp_certs.clear()

    def new_session(self, user_id: str) -> tuple[str, IdpSession]:
        """Start an IdP session for ``user_id``; return its cookie value and record."""
        sid = secrets.token_urlsafe(24)
        session = IdpSession(user_id=user_id, session_index=f"_s{secrets.token_hex(16)}")
        with self.lock:
            self.sessions[sid] = session
        return sid, session

    def end_sessions(
        self, *, cookie: str | None = None, sid: str | None = None, user_id: str | None = None
    ) -> list[IdpSession]:
        """Remove and return the sessions with this cookie value, public ``sid`` or user."""
        with self.lock:
            keys = [
                key
                for key, session in self.sessions.items()
                if (cookie is not None and key == cookie)
                or (sid is not None and session.sid == sid)
                or (user_id is not None and session.user_id == user_id)
            ]
            return [self.sessions.pop(key) for key in keys]

    def notify_logout(self, session: IdpSession, *, wait: bool = False) -> list[Delivery]:
        """Send back-channel logout tokens for an ended session to the clients it reached.

        Without ``wait`` the tokens go out on a background thread and nothing is returned.
        """
        with self.lock:
            client_ids = list(session.oidc_clients)
        if wait:
            return self.backchannel.deliver(
                sub=session.user_id, sid=session.sid, client_ids=client_ids
            )
        self.backchannel.deliver_in_background(
            sub=session.user_id, sid=session.sid, client_ids=client_ids
        )
        return []

    def close(self) -> None:
        """Release the database."""
        self.store.close()
