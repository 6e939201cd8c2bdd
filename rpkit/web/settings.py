"""Extension settings: ``app.config`` first, then the ``RPKIT_*`` environment.

Public contract (README): ``RPKIT_BASE_URL``, ``RPKIT_SECRET_KEY``, ``RPKIT_OIDC_*``
(``ISSUER`` or ``SHIP_HOST``, ``CLIENT_ID``, ``CLIENT_SECRET``...), ``RPKIT_CA_BUNDLE``,
``RPKIT_HTTP_*``, ``RPKIT_SAML_*`` (``IDP_METADATA_URL`` or ``IDP_METADATA_FILE``...),
``RPKIT_REDIS_URL``, ``RPKIT_MEMORY_STORE_MAX_ENTRIES``. Objects may be passed in
``app.config`` instead: ``RPKIT_OIDC`` (an ``OidcConfig``), ``RPKIT_SAML`` (a
``SamlConfig``), ``RPKIT_STORE`` (a ``StateStore``), ``RPKIT_RANKS`` (a ``RankVocabulary``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import OidcConfig, is_loopback_host
from ..env import check_variables
from ..errors import ConfigurationError
from ..ranks import DEFAULT_RANKS, RankVocabulary
from ..store import DEFAULT_MAX_ENTRIES, MemoryStore, RedisStore, StateStore

__all__ = ["DEFAULT_BASE_URL", "Settings", "collect_env", "env_variables"]

# The logger keeps the name it had when these settings were the Flask extension's, so
# existing log filters still match.
log = logging.getLogger("rpkit.flask")

DEFAULT_BASE_URL = "http://127.0.0.1:5000"
OIDC_PROVIDER_KEYS = ("RPKIT_OIDC_ISSUER", "RPKIT_OIDC_SHIP_HOST", "RPKIT_OIDC_CLIENT_ID")
SAML_PROVIDER_KEYS = ("RPKIT_SAML_IDP_METADATA_URL", "RPKIT_SAML_IDP_METADATA_FILE")
# The extension's own variables; the protocols' come from OidcConfig and SamlConfig.
# ``from_config`` reads them only through ``_own``, so a variable missing here is never
# read at all (its own test fails) instead of being read and refused as unknown.
_OWN_VARIABLES = (
    "RPKIT_BASE_URL",
    "RPKIT_SECRET_KEY",
    "RPKIT_REDIS_URL",
    "RPKIT_SESSION_LIFETIME",
    "RPKIT_MEMORY_STORE_MAX_ENTRIES",
    "RPKIT_ASGI_THREADS",
)
_DEMO_CERTS = Path(__file__).resolve().parents[2] / "certs"


def env_variables() -> frozenset[str]:
    """The ``RPKIT_*`` variables the extension itself reads (see ``rpkit.env``)."""
    return frozenset(_OWN_VARIABLES)


def collect_env(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every ``RPKIT_*`` string setting: the environment, overridden by ``app.config``."""
    env = os.environ if environ is None else environ
    merged = {k: v for k, v in env.items() if k.startswith("RPKIT_")}
    for key, value in config.items():
        if key.startswith("RPKIT_") and isinstance(value, str):
            merged[key] = value
        elif key.startswith("RPKIT_") and value is None:
            merged.pop(key, None)
    return merged


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f'"RPKIT_BASE_URL" {value!r} must be an absolute http(s) URL')
    if parts.query or parts.fragment or parts.username:
        raise ConfigurationError('"RPKIT_BASE_URL" must not have a query, fragment or user')
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f'"RPKIT_BASE_URL" {value!r} is plain http to a non-loopback host; session '
            "cookies would travel in clear text. Serve the app over https."
        )
    return value.rstrip("/")


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Everything the extension needs, validated at ``init_app`` (``ConfigurationError``)."""

    base_url: str
    oidc: OidcConfig | None
    saml: Any | None  # rpkit.saml.SamlConfig; typed loosely so the saml extra stays optional
    store: StateStore
    ranks: RankVocabulary = DEFAULT_RANKS
    session_lifetime: timedelta = timedelta(hours=8)
    secret_key: str | None = field(default=None, repr=False)
    #: FastAPI/Starlette only: blocking steps run at once in worker threads
    asgi_threads: int = 8

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies everywhere but plain http on loopback (the local demo)."""
        return urlsplit(self.base_url).scheme == "https"

    @property
    def path_prefix(self) -> str:
        return urlsplit(self.base_url).path.rstrip("/")

    def url(self, path: str) -> str:
        """An absolute URL of this app for ``path`` (which starts with ``/``)."""
        return self.base_url + path

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> Settings:
        values = collect_env(config, environ)
        # Before anything reads them: a typo (RPKIT_OIDC_CLIENTID) would otherwise look
        # like "not configured" and the app would start with no sign-in.
        check_variables(values)
        own = {k: v for k, v in values.items() if k in _OWN_VARIABLES}
        base_url = _base_url(own.get("RPKIT_BASE_URL") or DEFAULT_BASE_URL)
        store = config.get("RPKIT_STORE")
        if store is None:
            redis_url = own.get("RPKIT_REDIS_URL")
            store = RedisStore(redis_url) if redis_url else _memory_store(own)
        if not isinstance(store, StateStore):
            raise ConfigurationError('"RPKIT_STORE" must implement rpkit.store.StateStore')
        ranks = config.get("RPKIT_RANKS", DEFAULT_RANKS)
        if not isinstance(ranks, RankVocabulary):
            raise ConfigurationError('"RPKIT_RANKS" must be a rpkit.ranks.RankVocabulary')
        lifetime = own.get("RPKIT_SESSION_LIFETIME")
        try:
            session_lifetime = (
                timedelta(seconds=float(lifetime)) if lifetime else timedelta(hours=8)
            )
        except ValueError as err:
            raise ConfigurationError('"RPKIT_SESSION_LIFETIME" must be seconds') from err
        return cls(
            base_url=base_url,
            oidc=_oidc(config, values, base_url),
            saml=_saml(config, values, base_url),
            store=store,
            ranks=ranks,
            session_lifetime=session_lifetime,
            secret_key=own.get("RPKIT_SECRET_KEY") or None,
            asgi_threads=_positive(own, "RPKIT_ASGI_THREADS", 8),
        )


def _positive(values: Mapping[str, str], name: str, default: int) -> int:
    raw = values.get(name)
    try:
        number = int(raw) if raw else default
    except ValueError as err:
        raise ConfigurationError(f'"{name}" must be a number') from err
    if number < 1:
        raise ConfigurationError(f'"{name}" must be at least 1')
    return number


def _memory_store(values: Mapping[str, str]) -> MemoryStore:
    max_entries = _positive(values, "RPKIT_MEMORY_STORE_MAX_ENTRIES", DEFAULT_MAX_ENTRIES)
    # Said at every start: with gunicorn -w 2 a login started in one worker fails in the
    # other, and a sign-out in one leaves the session alive in the other.
    log.warning(
        "rpkit: sessions and pending logins live in this process's memory (at most %d "
        "entries), for ONE process only; with several workers or hosts set RPKIT_REDIS_URL",
        max_entries,
    )
    return MemoryStore(max_entries=max_entries)


def _protocol_env(values: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The variables one protocol's config reads: its own, plus the shared HTTP settings."""
    return {
        k: v
        for k, v in values.items()
        if k.startswith((prefix, "RPKIT_HTTP_")) or k == "RPKIT_CA_BUNDLE"
    }


def _oidc(config: Mapping[str, Any], values: Mapping[str, str], base_url: str) -> OidcConfig | None:
    given = config.get("RPKIT_OIDC")
    if given is not None:
        if not isinstance(given, OidcConfig):
            raise ConfigurationError('"RPKIT_OIDC" must be an rpkit.OidcConfig')
        return given
    if not any(v for k, v in values.items() if k.startswith("RPKIT_OIDC_")):
        return None
    env = _protocol_env(values, "RPKIT_OIDC_")
    env.setdefault("RPKIT_OIDC_REDIRECT_URI", base_url + "/auth/oidc/callback")
    env.setdefault("RPKIT_OIDC_POST_LOGOUT_REDIRECT_URI", base_url + "/")
    return OidcConfig.from_env(env)


def _saml(config: Mapping[str, Any], values: Mapping[str, str], base_url: str) -> Any | None:
    given = config.get("RPKIT_SAML")
    if given is not None:
        return given
    saml_values = sorted(k for k, v in values.items() if k.startswith("RPKIT_SAML_") and v)
    if not saml_values:
        return None
    if not any(values.get(k) for k in SAML_PROVIDER_KEYS):
        # SamlConfig alone would default to Dualog's cloud metadata; an app that set only
        # its SP key must say which IdP it trusts rather than get one by default.
        raise ConfigurationError(
            f"{', '.join(saml_values)} set but no SAML identity provider: set "
            '"RPKIT_SAML_IDP_METADATA_URL" (Dualog: '
            'https://crew.dualog.com/auth/saml/metadata) or "RPKIT_SAML_IDP_METADATA_FILE"'
        )
    try:
        from ..saml import SamlConfig
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ConfigurationError('SAML needs the "saml" extra: pip install rpkit[saml]') from err
    env = _protocol_env(values, "RPKIT_SAML_")
    env.setdefault("RPKIT_SAML_SP_ENTITY_ID", base_url + "/auth/saml/metadata")
    env.setdefault("RPKIT_SAML_ACS_URL", base_url + "/auth/saml/acs")
    if "RPKIT_SAML_IDP_ENTITY_ID" not in env:
        entity_id = idp_entity_id_from(env)
        if entity_id is not None:
            env["RPKIT_SAML_IDP_ENTITY_ID"] = entity_id
    if "RPKIT_SAML_SP_KEY_FILE" not in env and "RPKIT_SAML_SP_CERT_FILE" not in env:
        key, cert = _demo_key_pair(base_url)
        env["RPKIT_SAML_SP_KEY_FILE"], env["RPKIT_SAML_SP_CERT_FILE"] = key, cert
    env.setdefault("RPKIT_SAML_LOGOUT_URL", base_url + "/auth/saml/slo")
    return SamlConfig.from_env(env)


def idp_entity_id_from(env: Mapping[str, str]) -> str | None:
    """The IdP entity ID when ``RPKIT_SAML_IDP_ENTITY_ID`` is not set, if known at start-up.

    From a metadata file: the ``entityID`` of its single ``EntityDescriptor``. From a URL:
    None, and the service provider reads it from the metadata at first use (the metadata
    must then describe exactly one IdP). Fetching here would make start-up depend on the
    IdP being reachable, and guessing it from the URL's shape fails for IdPs not laid out
    like Dualog (SimpleSAMLphp's ``/saml2/idp/metadata.php``, entity ID = that URL).
    """
    path = env.get("RPKIT_SAML_IDP_METADATA_FILE")
    if path:
        return _entity_id_in_file(path)
    return None


def _entity_id_in_file(path: str) -> str:
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(Path(path).read_bytes(), parser)
    except (OSError, etree.XMLSyntaxError) as err:
        raise ConfigurationError(f'"RPKIT_SAML_IDP_METADATA_FILE" {path!r} is unreadable') from err
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    descriptors = (
        [root] if root.tag == md + "EntityDescriptor" else root.findall(md + "EntityDescriptor")
    )
    entity_ids = [d.get("entityID") for d in descriptors if d.get("entityID")]
    if len(entity_ids) != 1:
        raise ConfigurationError(
            f'"RPKIT_SAML_IDP_METADATA_FILE" {path!r} does not describe exactly one entity; '
            'set "RPKIT_SAML_IDP_ENTITY_ID"'
        )
    return str(entity_ids[0])


def _demo_key_pair(base_url: str) -> tuple[str, str]:
    """The throwaway demo SP key pair, for an app on loopback only.

    Anywhere else a published private key would let anyone sign as this SP, so a real
    deployment must configure its own (``rpkit.saml.generate_sp_certificate``).
    """
    host = urlsplit(base_url).hostname or ""
    key, cert = _DEMO_CERTS / "demo-sp.key", _DEMO_CERTS / "demo-sp.crt"
    if not is_loopback_host(host):
        raise ConfigurationError(
            'SAML needs "RPKIT_SAML_SP_KEY_FILE" and "RPKIT_SAML_SP_CERT_FILE" (the demo key '
            "pair is only used for an app on loopback)"
        )
    if key.is_file() and cert.is_file():
        log.warning("rpkit: using the throwaway demo SAML SP key pair (loopback demo only)")
        return str(key), str(cert)
    import tempfile

    from ..saml import generate_sp_certificate

    directory = Path(tempfile.mkdtemp(prefix="rpkit-sp-"))
    key_path, cert_path = generate_sp_certificate(directory, name="demo-sp", key_size=2048)
    log.warning("rpkit: generated a temporary SAML SP key pair in %s", directory)
    return str(key_path), str(cert_path)
