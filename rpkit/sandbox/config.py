"""Sandbox configuration: where it listens, what it calls itself, who may use it.

``SandboxConfig.load`` reads an optional JSON (or TOML) file of extra OIDC clients and
SAML service providers; the defaults match the rpkit sample app at
``http://127.0.0.1:5000`` so the demo works with no configuration at all.
"""

from __future__ import annotations

import json
import secrets
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import ConfigurationError

__all__ = [
    "CREW_CLAIMS_MAPPING",
    "DEFAULT_CLIENTS",
    "DEFAULT_SERVICE_PROVIDERS",
    "DEMO_APP_URL",
    "RSK_CLAIMS_MAPPING",
    "OidcClientConfig",
    "SamlServiceProviderConfig",
    "SandboxConfig",
    "app_client",
    "stored_admin_token",
]

DEMO_APP_URL = "http://127.0.0.1:5000"
SEED_FILE = Path(__file__).with_name("seed.json")

OIDC_SCOPES = ("openid", "profile", "email", "offline_access", "crew.public")
SCIM_SCOPES = ("crew_import", "crew_read")
# Dualog's resource names are not public; the SCIM API's scopes belong to one resource.
DEFAULT_API_RESOURCES: Mapping[str, tuple[str, ...]] = {"crew-api": SCIM_SCOPES}
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", "password")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")

_WS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
# Claim type -> SAML attribute Name, as Rock Solid Knowledge SAML2P maps them by default
# (DefaultClaimMapping: WS-Fed claim URIs); a claim not in the mapping is not sent. `rank`
# is a custom claim: RSK sends it under its own claim type only if the SP's mapping has it,
# which the sandbox assumes Dualog's does. Documented in rpkit/sandbox/README.md.
RSK_CLAIMS_MAPPING: Mapping[str, str] = {
    "email": _WS + "emailaddress",
    "given_name": _WS + "givenname",
    "family_name": _WS + "surname",
    "name": _WS + "name",
    "rank": "rank",
}
# RSK's mapping plus Dualog's crew claims under their own claim types: what the demo SP is
# registered with, so the sample app's profile shows the ship (a per-SP ClaimsMapping).
CREW_CLAIMS_MAPPING: Mapping[str, str] = {
    **RSK_CLAIMS_MAPPING,
    "department": "department",
    "ship_name": "ship_name",
    "ship_imo": "ship_imo",
}


REFRESH_TOKEN_USAGES = ("reuse", "one_time")


@dataclass(frozen=True, kw_only=True, slots=True)
class OidcClientConfig:
    """One registered OIDC/OAuth client (an "integration" or "API client" in Dualog).

    The switches mirror Duende IdentityServer's client settings, with Duende's defaults:
    ``always_include_user_claims_in_id_token`` (``AlwaysIncludeUserClaimsInIdToken``,
    off: user claims go to userinfo and the access token only), ``require_pkce``
    (``RequirePkce``, on), ``allow_offline_access`` (``AllowOfflineAccess``, off: the
    ``offline_access`` scope is refused), ``refresh_token_usage`` (``RefreshTokenUsage``,
    ``reuse``; ``one_time`` rotates), ``backchannel_logout_uri`` and
    ``frontchannel_logout_uri`` (none: the IdP tells the app nothing at logout).
    """

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = OIDC_SCOPES
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    token_endpoint_auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    name: str = ""
    backchannel_logout_uri: str | None = None
    frontchannel_logout_uri: str | None = None
    always_include_user_claims_in_id_token: bool = False
    require_pkce: bool = True
    allow_offline_access: bool = False
    refresh_token_usage: str = "reuse"

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ConfigurationError('sandbox client "client_id" is required')
        if self.refresh_token_usage not in REFRESH_TOKEN_USAGES:
            raise ConfigurationError(
                f'sandbox client "refresh_token_usage" {self.refresh_token_usage!r} must be '
                '"reuse" or "one_time"'
            )
        for grant in self.grant_types:
            if grant not in GRANT_TYPES:
                raise ConfigurationError(f"sandbox client grant type {grant!r} is not supported")
        for method in self.token_endpoint_auth_methods:
            if method not in AUTH_METHODS:
                raise ConfigurationError(f"sandbox client auth method {method!r} is unknown")
        if "none" not in self.token_endpoint_auth_methods and not self.client_secret:
            raise ConfigurationError(
                f'sandbox client {self.client_id!r} needs "client_secret" or auth method "none"'
            )
        for uri in (*self.redirect_uris, *self.post_logout_redirect_uris):
            if urlsplit(uri).scheme not in ("http", "https"):
                raise ConfigurationError(f"sandbox client URI {uri!r} must be absolute http(s)")
        for name in ("backchannel_logout_uri", "frontchannel_logout_uri"):
            uri = getattr(self, name)
            if uri is None:
                continue
            parts = urlsplit(uri)
            # Back-Channel Logout 1.0 §2.2, Front-Channel Logout 1.0 §2: absolute, no fragment.
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
                raise ConfigurationError(
                    f'sandbox client "{name}" {uri!r} must be an absolute http(s) URL '
                    "without a fragment"
                )

    @property
    def allowed_scopes(self) -> tuple[str, ...]:
        """``scopes``, without ``offline_access`` unless the client allows offline access."""
        if self.allow_offline_access:
            return self.scopes
        return tuple(s for s in self.scopes if s != "offline_access")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> OidcClientConfig:
        """Build from field names; unknown keys raise ``ConfigurationError``."""
        built: OidcClientConfig = _build(cls, values)
        return built


@dataclass(frozen=True, kw_only=True, slots=True)
class SamlServiceProviderConfig:
    """One registered SAML service provider.

    Give ``entity_id`` and ``acs_urls`` directly, or ``metadata_file`` / ``metadata_url``
    to read them from the SP's metadata when the sandbox starts.

    The switches mirror Rock Solid Knowledge SAML2P's per-SP settings, defaulting to
    RSK's defaults: ``require_signed_requests`` (``RequireSignedAuthenticationRequests``,
    falling back to the IdP-wide ``WantAuthenticationRequestsSigned = true``) checks
    AuthnRequest and LogoutRequest signatures against ``signing_cert_file`` or the
    certificates in the SP's metadata; ``claims_mapping`` (``ClaimsMapping``) names the
    only claims sent and their attribute names (None: RSK's WS-Fed claim URIs plus
    ``rank``); ``attribute_names="short"`` sends every claim under its short name instead.
    """

    entity_id: str = ""
    acs_urls: tuple[str, ...] = ()
    slo_urls: tuple[str, ...] = ()
    name_id_format: str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    metadata_file: str | None = None
    metadata_url: str | None = None
    signing_cert_file: str | None = None
    require_signed_requests: bool = True
    attribute_names: str = "claim_uris"
    claims_mapping: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        has_metadata = self.metadata_file is not None or self.metadata_url is not None
        if not has_metadata and (not self.entity_id or not self.acs_urls):
            raise ConfigurationError(
                'sandbox SAML SP needs "entity_id" and "acs_urls", or a metadata file or URL'
            )
        if self.attribute_names not in ("claim_uris", "short"):
            raise ConfigurationError(
                f'sandbox SAML SP "attribute_names" {self.attribute_names!r} must be '
                '"claim_uris" or "short"'
            )
        if self.claims_mapping is not None and not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in self.claims_mapping.items()
        ):
            raise ConfigurationError('sandbox SAML SP "claims_mapping" maps claims to names')
        if not isinstance(self.require_signed_requests, bool):
            raise ConfigurationError('sandbox SAML SP "require_signed_requests" is true/false')

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SamlServiceProviderConfig:
        """Build from field names; unknown keys raise ``ConfigurationError``."""
        built: SamlServiceProviderConfig = _build(cls, values)
        return built


DEFAULT_CLIENTS: tuple[OidcClientConfig, ...] = (
    OidcClientConfig(
        client_id="rpkit-demo",
        client_secret="rpkit-demo-secret",
        name="rpkit sample app",
        redirect_uris=(f"{DEMO_APP_URL}/auth/oidc/callback",),
        post_logout_redirect_uris=(f"{DEMO_APP_URL}/",),
        grant_types=("authorization_code", "refresh_token", "password"),
        # What the demo needs beyond Duende's defaults (listed in README.md): refresh
        # tokens for rpkit.testing and apps that try refresh_tokens=True. No back-channel
        # URI: Dualog's integration form may not offer one, so the demo logs out without.
        allow_offline_access=True,
    ),
    OidcClientConfig(
        client_id="rpkit-scim",
        client_secret="rpkit-scim-secret",
        name="CMS import (crew_import)",
        scopes=SCIM_SCOPES,
        grant_types=("client_credentials",),
    ),
    OidcClientConfig(
        client_id="rpkit-scim-readonly",
        client_secret="rpkit-scim-readonly-secret",
        name="Read-only reporting (crew_read)",
        scopes=("crew_read",),
        grant_types=("client_credentials",),
    ),
)

DEFAULT_SERVICE_PROVIDERS: tuple[SamlServiceProviderConfig, ...] = (
    SamlServiceProviderConfig(
        entity_id=f"{DEMO_APP_URL}/auth/saml/metadata",
        acs_urls=(f"{DEMO_APP_URL}/auth/saml/acs",),
        slo_urls=(f"{DEMO_APP_URL}/auth/saml/slo",),
        claims_mapping=CREW_CLAIMS_MAPPING,
    ),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxConfig:
    """How one sandbox instance runs.

    ``base_url`` is the public URL (behind a proxy, the proxy's); None means
    ``http://<host>:<port>`` once the port is known. The OIDC issuer and SAML entity ID
    are ``<base_url>/auth``, as on Dualog. ``allow_any_sp`` accepts AuthnRequests from
    unregistered service providers (dev mode), answering at the ACS URL they name.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str | None = None
    # The client whose settings the start-up env block shows (an app's own, registered with
    # ``rpkit sandbox --client``); None: the demo client.
    env_client_id: str | None = None
    data_dir: Path = Path(".rpkit-sandbox")
    seed_file: Path = SEED_FILE
    admin_token: str = field(default_factory=lambda: _new_admin_token(), repr=False)
    clients: tuple[OidcClientConfig, ...] = DEFAULT_CLIENTS
    service_providers: tuple[SamlServiceProviderConfig, ...] = DEFAULT_SERVICE_PROVIDERS
    allow_any_sp: bool = False
    id_token_lifetime: int = 300  # Duende's IdentityTokenLifetime
    # Duende's Endpoints.EnableUserInfoEndpoint: off, discovery has no userinfo_endpoint
    # and the path answers 404 (a provider whose claims all ride in the ID token).
    enable_userinfo_endpoint: bool = True
    access_token_lifetime: int = 3600
    # API resource name -> the API scopes that belong to it. An access token's ``aud``
    # lists the resources of its scopes, as Duende does; identity scopes have none.
    api_resources: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_API_RESOURCES)
    )
    client_credentials_lifetime: int = 86400  # Dualog User API: "valid for 24 hours"
    backchannel_logout_timeout: float = 3.0  # seconds per logout-token POST to an RP
    # Serve https with a private CA kept in ``data_dir/tls`` (rpkit.sandbox.tls); the
    # certificate names ``tls_hostnames`` (default: the bind address and localhost) and the
    # base URL uses the first of them, as a ship server reached by that name would.
    tls: bool = False
    tls_hostnames: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f'sandbox "port" {self.port} is out of range')
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(f'sandbox "base_url" {self.base_url!r} is not a URL')
            if parts.query or parts.fragment:
                raise ConfigurationError('sandbox "base_url" must not have a query or fragment')
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        ids = [c.client_id for c in self.clients]
        if len(set(ids)) != len(ids):
            raise ConfigurationError("sandbox client ids must be unique")
        if not 0 < self.backchannel_logout_timeout <= 30:
            raise ConfigurationError('sandbox "backchannel_logout_timeout" must be 0-30 seconds')
        if len(self.admin_token) < 16:
            raise ConfigurationError('sandbox "admin_token" must be at least 16 characters')
        if self.tls_hostnames and not self.tls:
            raise ConfigurationError('sandbox "tls_hostnames" needs "tls"')
        if self.tls:
            from .tls import default_hostnames, validate_hostname

            names = self.tls_hostnames or default_hostnames(self.host)
            object.__setattr__(
                self, "tls_hostnames", tuple(dict.fromkeys(validate_hostname(n) for n in names))
            )

    def audiences_for(self, scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """The API resources whose scopes are among ``scopes``: an access token's ``aud``."""
        return tuple(
            name for name, owned in self.api_resources.items() if any(s in owned for s in scopes)
        )

    def with_overrides(self, **changes: Any) -> SandboxConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> SandboxConfig:
        """Read extra clients and SPs from a JSON or TOML file.

        Keys: ``clients`` (list of client mappings, added to the defaults),
        ``service_providers`` (likewise), ``replace_defaults`` (bool), ``allow_any_sp``,
        ``admin_token``. Unknown keys raise ``ConfigurationError``.
        """
        values = _read_mapping(Path(path))
        known = {
            "clients",
            "service_providers",
            "replace_defaults",
            "allow_any_sp",
            "admin_token",
            "api_resources",
        }
        unknown = set(values) - known
        if unknown:
            raise ConfigurationError(
                f"{path}: unknown sandbox config keys: {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(known))})"
            )
        keep = not values.get("replace_defaults", False)
        clients = tuple(
            _at(path, f"clients[{i}]", OidcClientConfig.from_mapping, c)
            for i, c in enumerate(_list(values, "clients"))
        )
        sps = tuple(
            _at(path, f"service_providers[{i}]", SamlServiceProviderConfig.from_mapping, sp)
            for i, sp in enumerate(_list(values, "service_providers"))
        )
        kwargs: dict[str, Any] = {
            "clients": (DEFAULT_CLIENTS if keep else ()) + clients,
            "service_providers": (DEFAULT_SERVICE_PROVIDERS if keep else ()) + sps,
        }
        if "allow_any_sp" in values:
            kwargs["allow_any_sp"] = bool(values["allow_any_sp"])
        if "admin_token" in values:
            kwargs["admin_token"] = str(values["admin_token"])
        if "api_resources" in values:
            resources = values["api_resources"]
            if not isinstance(resources, dict) or not all(
                isinstance(v, list) for v in resources.values()
            ):
                raise ConfigurationError('sandbox "api_resources" maps names to scope lists')
            kwargs["api_resources"] = {str(k): tuple(v) for k, v in resources.items()}
        kwargs.update(overrides)
        return cls(**kwargs)


_T = TypeVar("_T")


def _at(path: str | Path, where: str, build: Callable[[Any], _T], value: Any) -> _T:
    """``build(value)``, with a failure's message pointing at ``where`` in the file."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{path}: {where} must be a table/object of settings")
    try:
        return build(value)
    except ConfigurationError as err:
        raise ConfigurationError(f"{path}: {where}: {err.message}") from err


def app_client(
    spec: str, redirect_uris: Sequence[str], post_logout_redirect_uris: Sequence[str] = ()
) -> OidcClientConfig:
    """An app's own client from ``rpkit sandbox --client ID:SECRET --redirect-uri URL``.

    ``ID:`` (no secret) is a public client (PKCE, no client authentication). Without a
    post-logout URI, the origin of the first redirect URI followed by ``/`` is registered,
    as the sample app expects. Every other setting keeps Duende's defaults.
    """
    client_id, sep, secret = spec.partition(":")
    if not sep or not client_id:
        raise ConfigurationError(f'"--client" {spec!r} must be ID:SECRET (ID: for a public client)')
    if not redirect_uris:
        raise ConfigurationError(
            f'"--client {client_id}:..." needs at least one "--redirect-uri" after it'
        )
    if not post_logout_redirect_uris:
        first = urlsplit(redirect_uris[0])
        post_logout_redirect_uris = (f"{first.scheme}://{first.netloc}/",)
    return OidcClientConfig(
        client_id=client_id,
        client_secret=secret or None,
        name=client_id,
        redirect_uris=tuple(redirect_uris),
        post_logout_redirect_uris=tuple(post_logout_redirect_uris),
        grant_types=("authorization_code", "refresh_token"),
        token_endpoint_auth_methods=(
            ("client_secret_basic", "client_secret_post") if secret else ("none",)
        ),
    )


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigurationError(f"sandbox config file {str(path)!r} is not readable") from err
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as err:
        raise ConfigurationError(f"sandbox config file {str(path)!r} is not valid") from err
    if not isinstance(data, dict):
        raise ConfigurationError(f"sandbox config file {str(path)!r} must hold an object")
    return data


def _list(values: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    items = values.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigurationError(f'sandbox config "{key}" must be a list of objects')
    return items


def _build(cls: type[Any], values: Mapping[str, Any]) -> Any:
    names = {f.name for f in cls.__dataclass_fields__.values()}
    unknown = set(values) - names
    if unknown:
        raise ConfigurationError(f"unknown {cls.__name__} keys: {', '.join(sorted(unknown))}")
    fields = cls.__dataclass_fields__
    for name, value in values.items():
        # A string where a list belongs would be read letter by letter: say so instead.
        if "tuple[" in str(fields[name].type) and not isinstance(value, list | tuple):
            raise ConfigurationError(f'"{name}" must be a list, not {type(value).__name__}')
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigurationError(f"invalid {cls.__name__}: {err}") from err


def stored_admin_token(data_dir: Path) -> str:
    """The admin token kept in ``data_dir/admin-token`` (mode 0600, created on first start),
    so restarts, the embedded demo sandbox and the ``rpkit sandbox`` controls share it."""
    path = data_dir / "admin-token"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError:
        token = ""
    if len(token) >= 16:
        return token
    token = _new_admin_token()
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return token


def _new_admin_token() -> str:
    # Hex, not URL-safe base64: a token that starts with "-" is read by argparse as an
    # option in `rpkit sandbox counts --admin-token <token>`.
    return secrets.token_hex(24)
