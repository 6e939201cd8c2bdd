"""Frozen configuration, one dataclass per concern.

Configuration is validated when it is built (``ConfigurationError``), never per request.
Every type can be built from a plain mapping (``from_mapping``: field names as keys, unknown
keys raise) or from the environment (``from_env``: ``RPKIT_<CONCERN>_<FIELD>``).

Owns: ``OidcConfig``, ``HttpConfig``, the transport checks and the shared mapping loader the
other configs build on.
Must not import: anything above floor 0 (no HTTP, no store, no protocol); only ``rpkit.env``
and ``rpkit.errors``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import ipaddress
import json
import logging
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from .env import EnvSettings, build_from_env
from .errors import ConfigurationError

__all__ = [
    "DEFAULT_ID_TOKEN_ALGS",
    "DEFAULT_SCOPES",
    "DUALOG_CLOUD_ISSUER",
    "OFFLINE_ACCESS",
    "HttpConfig",
    "OidcConfig",
    "ResponseMode",
    "TokenEndpointAuthMethod",
    "env_variables",
    "is_loopback_host",
    "issuer_hint",
]

DUALOG_CLOUD_ISSUER = "https://crew.dualog.com/auth"
"""The issuer of Dualog's cloud identity provider (`OidcConfig.cloud`)."""

# Dualog developer guide, "Supported Scopes": crew.public carries the maritime claims.
# offline_access is not here: IdentityServer refuses it (invalid_scope, on its own error
# page, never back to the app) unless the client has AllowOfflineAccess, which is off by
# default. ``OidcConfig.refresh_tokens`` adds it.
DEFAULT_SCOPES = ("openid", "profile", "email", "crew.public")
OFFLINE_ACCESS = "offline_access"
DEFAULT_ID_TOKEN_ALGS = ("RS256", "PS256", "ES256")
# The algorithms rpkit is able to verify; the allowlist must be a subset of these.
SUPPORTED_ID_TOKEN_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256"}
)

TokenEndpointAuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
ResponseMode = Literal["query", "form_post"]
_RESPONSE_MODES = ("query", "form_post")
_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")

_C = TypeVar("_C")


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(value: timedelta, name: str) -> None:
    if not isinstance(value, timedelta):
        raise ConfigurationError(f'"{name}" must be a timedelta, got {type(value).__name__}')


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpConfig(EnvSettings):
    """How rpkit talks to one provider: timeouts, trust, proxies.

    ``ca_bundle`` replaces the system trust store for this provider (a ship's private CA).
    ``pinned_cert_sha256`` (or ``pinned_cert_file``, a PEM certificate) trusts exactly one
    server certificate instead of a CA: the fingerprint is the trust, hostname and chain
    are not checked, which is what a ship server with a self-signed certificate on an IP
    needs. Plain ``http`` is refused except for loopback hosts unless
    ``allow_insecure_http`` is set. ``timeout`` bounds each call as a whole (not each
    read); answers larger than ``max_response_bytes`` (SAML metadata:
    ``max_metadata_bytes``) are refused while they stream in.
    """

    ENV_PREFIX = "RPKIT_HTTP_"
    # The one variable from before RPKIT_HTTP_*; it means the same for every concern.
    ENV_ALIASES = {"RPKIT_CA_BUNDLE": "ca_bundle"}

    # The deadline of one whole call: connect, TLS, headers and the entire body. A server
    # that drips its answer a byte at a time is cut off here, not per read.
    timeout: timedelta = timedelta(seconds=10)
    connect_timeout: timedelta = timedelta(seconds=5)
    # Answers are streamed and refused past these sizes (decoded bytes): JSON endpoints
    # (discovery, JWKS, token, userinfo, SCIM) and SAML metadata (an aggregate is larger).
    max_response_bytes: int = 1024 * 1024
    max_metadata_bytes: int = 4 * 1024 * 1024
    ca_bundle: str | None = None
    pinned_cert_file: str | None = None
    pinned_cert_sha256: str | None = None
    proxies: Mapping[str, str] = field(default_factory=dict)
    user_agent: str = "rpkit"
    allow_insecure_http: bool = False

    def __post_init__(self) -> None:
        _seconds(self.timeout, "timeout")
        _seconds(self.connect_timeout, "connect_timeout")
        if self.timeout <= timedelta(0) or self.connect_timeout <= timedelta(0):
            raise ConfigurationError('"timeout" and "connect_timeout" must be positive')
        for name in ("max_response_bytes", "max_metadata_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
                raise ConfigurationError(f'"{name}" must be a number of bytes, at least 1024')
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            raise ConfigurationError(f'"ca_bundle" {self.ca_bundle!r} is not a readable file')
        pin = _normalize_fingerprint(self.pinned_cert_sha256) if self.pinned_cert_sha256 else None
        if self.pinned_cert_file is not None:
            from_file = _fingerprint_of_pem(self.pinned_cert_file)
            if pin is not None and pin != from_file:
                raise ConfigurationError(
                    '"pinned_cert_sha256" does not match the certificate in "pinned_cert_file"'
                )
            pin = from_file
        object.__setattr__(self, "pinned_cert_sha256", pin)
        for scheme in self.proxies:
            if scheme not in ("http", "https", "all"):
                raise ConfigurationError(f'"proxies" key {scheme!r} must be http, https or all')

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> HttpConfig:
        """Build from field names; unknown keys raise ``ConfigurationError``."""
        return _from_mapping(cls, values)


@functools.lru_cache(maxsize=8)
def load_client_private_key(value: str) -> Any:
    """Import the ``private_key_jwt`` key: PEM or JWK JSON, RSA or EC, private.

    Returns a joserfc ``RSAKey`` or ``ECKey``.

    Raises:
        ConfigurationError: the value is not such a key.
    """
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, RSAKey

    data: Any = value
    if value.lstrip().startswith("{"):
        try:
            data = json.loads(value)
        except ValueError as err:
            raise ConfigurationError('"client_private_key" is not valid JWK JSON') from err
    for key_type in (RSAKey, ECKey):
        try:
            key = key_type.import_key(data)
        except (JoseError, ValueError, TypeError, KeyError):
            continue
        if key.is_private:
            return key
    raise ConfigurationError('"client_private_key" is not a PEM or JWK private key (RSA or EC)')


def check_client_auth(method: str, private_key: str | None) -> None:
    """Check a token endpoint auth method and, for ``private_key_jwt``, its key.

    Raises:
        ConfigurationError: an unknown method, or ``private_key_jwt`` without a usable key.
    """
    if method not in _AUTH_METHODS:
        raise ConfigurationError(
            f'"token_endpoint_auth_method" must be one of {", ".join(_AUTH_METHODS)}'
        )
    if method == "private_key_jwt":
        if not private_key:
            raise ConfigurationError('"private_key_jwt" needs "client_private_key"')
        load_client_private_key(private_key)


def _normalize_fingerprint(value: str) -> str:
    hexdigits = value.lower().removeprefix("sha256:").replace(":", "").strip()
    if len(hexdigits) != 64 or any(c not in "0123456789abcdef" for c in hexdigits):
        raise ConfigurationError('"pinned_cert_sha256" must be 64 hex digits (SHA-256)')
    return hexdigits


def _fingerprint_of_pem(path: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as err:
        raise ConfigurationError(f'"pinned_cert_file" {path!r} is not a PEM certificate') from err
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class OidcConfig(EnvSettings):
    """One OpenID provider and this app's registration with it.

    Build it with :meth:`cloud` for ``https://crew.dualog.com/auth``, :meth:`ship` for a
    ship-side identity server, or directly with any ``issuer``.

    ``clock_offset`` is added to this machine's clock before time checks: on a ship whose
    server clock runs 5 minutes ahead of ours, set ``timedelta(minutes=5)``. ``leeway``
    tolerates the remaining skew on ``exp``/``nbf``/``iat``.

    ``refresh_tokens`` asks for ``offline_access`` on top of ``scopes``; the Dualog
    integration must then allow offline access (IdentityServer's ``AllowOfflineAccess``),
    or every login ends on Dualog's error page. ``response_mode`` is how the provider
    returns the code: ``query`` (a redirect) or ``form_post`` (OAuth 2.0 Form Post
    Response Mode: the code stays out of URLs, logs and Referer headers).
    """

    ENV_PREFIX = "RPKIT_OIDC_"
    ENV_KEYS = ("ship_host", "ship_port", "ship_scheme")

    issuer: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    post_logout_redirect_uri: str | None = None
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    refresh_tokens: bool = False
    response_mode: ResponseMode = "query"
    token_endpoint_auth_method: TokenEndpointAuthMethod = "client_secret_basic"
    # PEM or JWK JSON of the key for private_key_jwt (RFC 7523 §2.2).
    client_private_key: str | None = field(default=None, repr=False)
    client_private_key_id: str | None = None
    id_token_signing_algs: tuple[str, ...] = DEFAULT_ID_TOKEN_ALGS
    leeway: timedelta = timedelta(seconds=60)
    clock_offset: timedelta = timedelta(0)
    # Dualog always includes `rank` (developer guide, "Claims"); its absence means a
    # misconfigured client or a different provider.
    allow_missing_rank: bool = False
    # Issuers whose access tokens the API decorator accepts besides ``issuer`` (a cloud
    # app that also serves ship-side tokens). Each is discovered on first use.
    accepted_issuers: tuple[str, ...] = ()
    # Bearer tokens for this app's API (RFC 9068). A token is accepted when its ``aud``
    # contains one of ``access_token_audience`` (Dualog: the API resource names; never
    # the client_id) or its ``client_id`` claim is one of ``access_token_client_ids``.
    # With neither set, bearer validation refuses to run unless ``allow_any_audience``.
    access_token_audience: tuple[str, ...] = ()
    access_token_client_ids: tuple[str, ...] = ()
    allow_any_audience: bool = False
    # RFC 9068 §2.1 types access tokens "at+jwt" (IdentityServer does); an untyped JWT
    # may be an ID token, so accepting one is an opt-in for providers that do not type.
    allow_untyped_access_tokens: bool = False
    http: HttpConfig = field(default_factory=HttpConfig)
    discovery_ttl: timedelta = timedelta(hours=1)
    # Directory for the last-known-good discovery document and JWKS; None keeps memory only.
    cache_dir: str | None = None
    cache_max_age: timedelta = timedelta(days=7)
    jwks_refetch_cooldown: timedelta = timedelta(seconds=60)
    jwks_ttl: timedelta = timedelta(hours=24)
    client_credentials_refresh_margin: timedelta = timedelta(seconds=60)
    # How long a started login may take to come back (the state, nonce and PKCE verifier
    # kept for it); SAML's is ``SamlConfig.pending_ttl``.
    pending_ttl: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        # One named step per rule, in this order (the first failure is the one reported).
        self._validate_issuer()
        self._validate_client_auth()
        self._validate_id_token_algs()
        self._validate_request_shape()
        self._validate_durations()
        self._validate_uris()
        self._normalize_access_token_audiences()

    def _validate_issuer(self) -> None:
        issuer = self.issuer
        parts = urlsplit(issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(f'"issuer" {issuer!r} must be an absolute https URL')
        if parts.query or parts.fragment:
            raise ConfigurationError(f'"issuer" {issuer!r} must not have a query or fragment')
        check_transport(issuer, "issuer", self.http)
        hint = issuer_hint(issuer)
        if hint is not None:
            # A hint, not a refusal: the server's discovery document has the last word.
            logging.getLogger("rpkit.config").warning(
                '"issuer" (RPKIT_OIDC_ISSUER) %s: %s', issuer, hint
            )

    def _validate_client_auth(self) -> None:
        if not self.client_id:
            raise ConfigurationError('"client_id" is required')
        check_client_auth(self.token_endpoint_auth_method, self.client_private_key)

    def _validate_id_token_algs(self) -> None:
        if not self.id_token_signing_algs:
            raise ConfigurationError('"id_token_signing_algs" must not be empty')
        for alg in self.id_token_signing_algs:
            if alg == "none" or alg not in SUPPORTED_ID_TOKEN_ALGS:
                raise ConfigurationError(f'"id_token_signing_algs" has unsupported alg {alg!r}')
        if "HS256" in self.id_token_signing_algs and not self.client_secret:
            raise ConfigurationError('"HS256" ID tokens are keyed by "client_secret"; set it')

    def _validate_request_shape(self) -> None:
        if "openid" not in self.scopes:
            raise ConfigurationError('"scopes" must include "openid"')
        if self.response_mode not in _RESPONSE_MODES:
            raise ConfigurationError(
                f'"response_mode" {self.response_mode!r} must be "query" or "form_post"'
            )

    def _validate_durations(self) -> None:
        for name in (
            "leeway",
            "clock_offset",
            "discovery_ttl",
            "cache_max_age",
            "jwks_refetch_cooldown",
            "jwks_ttl",
            "client_credentials_refresh_margin",
            "pending_ttl",
        ):
            _seconds(getattr(self, name), name)
        if self.leeway < timedelta(0):
            raise ConfigurationError('"leeway" must not be negative')
        if self.pending_ttl <= timedelta(0):
            raise ConfigurationError('"pending_ttl" must be positive')

    def _validate_uris(self) -> None:
        for uri_name in ("redirect_uri", "post_logout_redirect_uri"):
            uri = getattr(self, uri_name)
            if uri is not None and urlsplit(uri).scheme not in ("http", "https"):
                raise ConfigurationError(f'"{uri_name}" must be an absolute URL')
        for extra in self.accepted_issuers:
            check_transport(extra, "accepted_issuers", self.http)

    def _normalize_access_token_audiences(self) -> None:
        for name in ("access_token_audience", "access_token_client_ids"):
            value = getattr(self, name)
            if isinstance(value, str):  # one audience given as a plain string
                value = (value,)
                object.__setattr__(self, name, value)
            if any(not isinstance(v, str) or not v for v in value):
                raise ConfigurationError(f'"{name}" must be non-empty strings')

    @property
    def requested_scopes(self) -> tuple[str, ...]:
        """The scopes a login asks for: ``scopes``, plus ``offline_access`` for refresh."""
        if self.refresh_tokens and OFFLINE_ACCESS not in self.scopes:
            return (*self.scopes, OFFLINE_ACCESS)
        return self.scopes

    @property
    def is_dualog_cloud(self) -> bool:
        return self.issuer == DUALOG_CLOUD_ISSUER

    @classmethod
    def cloud(cls, *, client_id: str, **kwargs: Any) -> OidcConfig:
        """Configuration for Dualog's cloud identity provider."""
        return cls(issuer=DUALOG_CLOUD_ISSUER, client_id=client_id, **kwargs)

    @classmethod
    def ship(
        cls,
        host: str,
        *,
        client_id: str,
        port: int | None = None,
        scheme: str = "https",
        **kwargs: Any,
    ) -> OidcConfig:
        """Configuration for a ship-side identity server reached by hostname or IP.

        Ship-side endpoints follow the cloud's path structure (developer guide, "Ship-Side
        OIDC"), so the issuer is ``<scheme>://<host>[:port]/auth``.
        """
        return cls(
            issuer=ship_issuer(host, port=port, scheme=scheme), client_id=client_id, **kwargs
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> OidcConfig:
        """Build from field names plus ``ship_host``/``ship_port``/``ship_scheme``.

        ``http`` may be a nested mapping. Unknown keys raise ``ConfigurationError``.
        """
        values = dict(values)
        host = values.pop("ship_host", None)
        port = values.pop("ship_port", None)
        scheme = values.pop("ship_scheme", None) or "https"
        if host:
            if values.get("issuer"):
                raise ConfigurationError('set "issuer" or "ship_host", not both')
            values["issuer"] = ship_issuer(str(host), port=_port(port), scheme=str(scheme))
        elif port:
            raise ConfigurationError('"ship_port" needs "ship_host"')
        if "issuer" not in values or not values["issuer"]:
            values["issuer"] = DUALOG_CLOUD_ISSUER
        return _from_mapping(cls, with_http_config(values))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OidcConfig:
        """Build from ``RPKIT_OIDC_*`` and ``RPKIT_HTTP_*`` (plus ``RPKIT_CA_BUNDLE``).

        Unknown ``RPKIT_OIDC_``/``RPKIT_HTTP_`` variables raise with a "did you mean", so a
        typo is not silently ignored; messages name the variables.
        """
        return build_from_env(cls, cls.from_mapping, environ)


def env_variables() -> frozenset[str]:
    """The ``RPKIT_*`` variables read by the configs of this module (see ``rpkit.env``)."""
    return OidcConfig.env_variables() | HttpConfig.env_variables()


def issuer_hint(issuer: str) -> str | None:
    """Advice for an issuer that is likely mistyped, or None.

    Dualog's issuers end in ``/auth`` (developer guide, "OIDC Endpoints"), cloud and
    ship-side alike; a Dualog host without it serves no discovery document there.
    """
    parts = urlsplit(issuer)
    host = (parts.hostname or "").lower()
    if (host == "dualog.com" or host.endswith(".dualog.com")) and not parts.path.rstrip(
        "/"
    ).endswith("/auth"):
        suggested = f"{parts.scheme}://{parts.netloc}/auth"
        return f"Dualog issuers end in /auth: did you mean {suggested}?"
    return None


def _port(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        port = int(value)
    except (TypeError, ValueError) as err:
        raise ConfigurationError(f'"ship_port" {value!r} must be a port number') from err
    if not 0 < port < 65536:
        raise ConfigurationError(f'"ship_port" {value!r} must be a port number')
    return port


def with_http_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``values`` with a nested ``http`` mapping built into an ``HttpConfig``."""
    result = dict(values)
    http = result.get("http")
    if isinstance(http, Mapping):
        result["http"] = HttpConfig.from_mapping(http)
    elif http is None:
        result.pop("http", None)
    return result


def ship_issuer(host: str, *, port: int | None = None, scheme: str = "https") -> str:
    """Return the issuer of a ship-side identity server: ``<scheme>://<host>[:port]/auth``.

    ``host`` may carry its own port (``shipserver:8444``, ``[fe80::1]:8444``), but not as
    well as ``port``: two ports would build ``https://host:8444:8444/auth``.
    """
    host = host.strip()
    if not host or "/" in host or "@" in host:
        raise ConfigurationError(f'"ship_host" {host!r} must be a bare hostname or IP address')
    if scheme not in ("https", "http"):
        raise ConfigurationError(f'"ship_scheme" {scheme!r} must be https or http')
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            host = f"[{host.strip('[]')}]"
    except ValueError:
        pass
    try:
        own_port = urlsplit(f"//{host}").port
    except ValueError as err:
        raise ConfigurationError(f'"ship_host" {host!r} has an invalid port') from err
    if own_port is not None and port is not None:
        raise ConfigurationError(
            f'"ship_host" {host!r} already has a port and "ship_port" is {port}; give the port once'
        )
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}/auth"


_insecure_warned: set[str] = set()


def check_transport(url: str, name: str, http: HttpConfig) -> None:
    """Refuse plain http to anything but loopback unless ``allow_insecure_http``; warn once."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise ConfigurationError(f'"{name}" {url!r} must be an http(s) URL')
    if is_loopback_host(parts.hostname or ""):
        return
    if not http.allow_insecure_http:
        raise ConfigurationError(
            f'"{name}" {url!r} uses plain http to a non-loopback host; use https, or set '
            '"allow_insecure_http" for a ship network you trust'
        )
    if url not in _insecure_warned:
        _insecure_warned.add(url)
        import warnings

        warnings.warn(
            f"rpkit: talking plain http to {parts.hostname} (allow_insecure_http is set)",
            stacklevel=3,
        )


def _from_mapping(cls: type[_C], values: Mapping[str, Any]) -> _C:
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigurationError(
            f"unknown {cls.__name__} setting(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(fields))}"
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigurationError(" and ".join(f'"{name}"' for name in missing) + " is required")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(name, value, hints[name]) for name, value in values.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigurationError(f"{cls.__name__}: {err}") from err


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Turn strings from env files into the field's type; pass other values through."""
    if not isinstance(value, str):
        if isinstance(value, list) and _is_tuple(hint):
            return tuple(value)
        if isinstance(value, int | float) and _base(hint) is timedelta:
            return timedelta(seconds=value)
        return value
    base = _base(hint)
    if base is bool:
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f'"{name}" must be a boolean, got {value!r}')
    if base is timedelta:
        try:
            return timedelta(seconds=float(value))
        except ValueError as err:
            raise ConfigurationError(f'"{name}" must be a number of seconds') from err
    if base is int:
        try:
            return int(value)
        except ValueError as err:
            raise ConfigurationError(f'"{name}" must be an integer') from err
    if _is_tuple(hint):
        return tuple(v for v in value.replace(",", " ").split() if v)
    if _is_mapping(hint):
        pairs = [p.split("=", 1) for p in value.replace(",", " ").split() if p]
        if any(len(p) != 2 for p in pairs):
            raise ConfigurationError(f'"{name}" must be "key=value" pairs')
        return {k: v for k, v in pairs}
    return value if value != "" or not _is_optional(hint) else None


def _base(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return hint


def _is_optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _is_tuple(hint: Any) -> bool:
    return typing.get_origin(_base(hint)) is tuple


def _is_mapping(hint: Any) -> bool:
    return typing.get_origin(_base(hint)) in (Mapping, dict)
