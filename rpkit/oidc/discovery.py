"""OpenID Provider discovery (OpenID Connect Discovery 1.0 §4), lazy and cached.

The document is fetched on first use, not at import or app start, so an app boots while
the provider is unreachable. It is kept in memory for ``discovery_ttl`` and written to a
last-known-good file, which a restart at sea with no link to shore can still use for up to
``cache_max_age``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .._cache import BACKOFF_START, DiskCopy, LastKnownGood
from .._clock import Clock, clock_from
from .._http import HttpClient
from ..config import HttpConfig, OidcConfig, check_transport, issuer_hint
from ..errors import ConfigurationError, MetadataError, ProviderError
from ..store import FileCache

__all__ = ["Discovery", "ProviderMetadata", "parse_provider_metadata"]

log = logging.getLogger("rpkit.oidc")

_T = TypeVar("_T")

# Discovery 1.0 §3 REQUIRED fields that an RP needs for the code flow.
_REQUIRED = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "end_session_endpoint",
    "revocation_endpoint",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderMetadata:
    """The parts of a discovery document rpkit uses, validated."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    revocation_endpoint: str | None = None
    response_modes_supported: tuple[str, ...] = ("query", "fragment")
    code_challenge_methods_supported: tuple[str, ...] = ()
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    # RFC 9207 §3: when true, a callback without ``iss`` is rejected.
    authorization_response_iss_parameter_supported: bool = False
    backchannel_logout_supported: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def id_token_algorithms(self, allowlist: tuple[str, ...]) -> tuple[str, ...]:
        """The RP's allowlist narrowed to the algorithms the provider says it signs with.

        A token in an algorithm the provider never uses (OIDF
        rp-backchannel-rpinitlogout-lt-wrong-alg) is refused as ``alg`` even when a key
        for it is published. The RP's order is kept; ``none`` never survives.

        Raises:
            MetadataError: the two sets do not overlap, so no ID token could be accepted.
        """
        published = set(self.id_token_signing_alg_values_supported)
        accepted = tuple(alg for alg in allowlist if alg in published and alg != "none")
        if not accepted:
            raise MetadataError(
                f"the provider signs ID tokens with {', '.join(sorted(published)) or 'nothing'}"
                f" but rpkit allows only {', '.join(allowlist)}; set id_token_signing_algs "
                "(RPKIT_OIDC_ID_TOKEN_SIGNING_ALGS) to one the provider uses"
            )
        return accepted


def parse_provider_metadata(
    document: Mapping[str, Any], *, expected_issuer: str, http: HttpConfig, ship_hint: bool = False
) -> ProviderMetadata:
    """Validate a discovery document against the configured issuer.

    Raises:
        MetadataError: a required field is missing or malformed, an endpoint is not
            https, or the document's ``issuer`` is not exactly the configured one
            (Discovery 1.0 §4.3).
    """
    for name in _REQUIRED:
        if name not in document:
            raise MetadataError(f'discovery document of {expected_issuer} lacks "{name}"')
    issuer = document["issuer"]
    if not isinstance(issuer, str):
        raise MetadataError('discovery "issuer" is not a string')
    if issuer != expected_issuer:
        raise MetadataError(_issuer_mismatch_message(expected_issuer, issuer, ship_hint))
    values: dict[str, Any] = {"issuer": issuer}
    for name in _ENDPOINTS:
        url = document.get(name)
        if url is None:
            continue
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise MetadataError(f'discovery "{name}" is not an absolute URL')
        try:
            check_transport(url, name, http)
        except ConfigurationError as err:
            raise MetadataError(f'discovery "{name}": {err.message}') from err
        values[name] = url
    for name in (
        "response_modes_supported",
        "code_challenge_methods_supported",
        "id_token_signing_alg_values_supported",
    ):
        if name in document:
            items = document[name]
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise MetadataError(f'discovery "{name}" is not a list of strings')
            values[name] = tuple(items)
    for name in ("authorization_response_iss_parameter_supported", "backchannel_logout_supported"):
        values[name] = document.get(name) is True
    return ProviderMetadata(raw=dict(document), **values)


def _issuer_mismatch_message(configured: str, actual: str, ship_hint: bool) -> str:
    actual_host = urlsplit(actual).netloc
    text = f"configured {configured} but the server calls itself {actual}: "
    # Issuers compare as exact strings (Discovery 1.0 §4.3), so a slash is a mismatch; it
    # is a typo in the setting, not a different server.
    if configured.rstrip("/") == actual and configured != actual:
        return text + f"drop the trailing slash (RPKIT_OIDC_ISSUER={actual})"
    if actual.rstrip("/") == configured and configured != actual:
        return text + f"add the trailing slash the server uses (RPKIT_OIDC_ISSUER={actual})"
    hint = issuer_hint(configured)
    if hint is not None:
        return text + hint
    if ship_hint and urlsplit(actual).path.rstrip("/") == "/auth":
        return text + (
            f"set the ship host to {actual_host} (RPKIT_OIDC_SHIP_HOST={actual_host}) and make "
            "that name resolve on the ship's LAN, or fix the server's public origin"
        )
    return text + (
        f"set the issuer to {actual} (RPKIT_OIDC_ISSUER={actual}) if that server is the one "
        "you mean to trust"
    )


class Discovery:
    """Lazily fetched, cached provider metadata for one issuer (see :mod:`rpkit._cache`)."""

    def __init__(
        self,
        config: OidcConfig,
        http: HttpClient,
        *,
        issuer: str | None = None,
        file_cache: FileCache | None = None,
        clock: Clock | Callable[[], float] = time.time,
        ship_hint: bool = False,
    ) -> None:
        self._config = config
        self._http = http
        self.issuer = issuer or config.issuer
        self._ship_hint = ship_hint
        self.url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        disk = None
        if file_cache is not None:
            disk = DiskCopy(file_cache, "discovery-" + _slug(self.issuer), config.cache_max_age)
        # An issuer mismatch or a malformed document is not an outage: say so at once.
        fatal = (MetadataError,)
        self._cache: LastKnownGood[ProviderMetadata] = document_cache(
            "OIDC discovery", self._fetch, self._load, config.discovery_ttl, disk, clock, fatal
        )

    def get(self) -> ProviderMetadata:
        """Return fresh metadata, refetching after the TTL.

        When a refetch fails, the previous copy (memory, then disk within
        ``cache_max_age``) is used; a document that fails validation is never used, and
        raises even with a copy in hand.
        """
        return self._cache.get()

    def _fetch(self, now: datetime) -> tuple[ProviderMetadata, Any]:
        document = self._http.get_json(self.url, what="OIDC discovery")
        return self._load(document, now), document

    def _load(self, document: Any, now: datetime) -> ProviderMetadata:
        if not isinstance(document, dict):
            raise MetadataError("the cached OIDC discovery document is not a JSON object")
        return parse_provider_metadata(
            document,
            expected_issuer=self.issuer,
            http=self._config.http,
            ship_hint=self._ship_hint,
        )


def document_cache(
    what: str,
    fetch: Callable[[datetime], tuple[_T, Any]],
    load: Callable[[Any, datetime], _T],
    ttl: timedelta,
    disk: DiskCopy | None,
    clock: Clock | Callable[[], float],
    fatal: tuple[type[ProviderError], ...] = (),
) -> LastKnownGood[_T]:
    """The last-known-good cache of an OIDC document (discovery, JWKS): one set of rules.

    The retry pause after a failure stays at 30 s (never more than the TTL), so a ship whose
    link comes back signs crew in again within half a minute. The cache keeps this machine's
    time, without the configured clock offset: the age of a disk copy must not change when
    the offset setting does.
    """
    return LastKnownGood(
        fetch=fetch,
        load=load,
        ttl=lambda _value, _now: ttl,
        what=what,
        log=log,
        disk=disk,
        backoff_ceiling=min(ttl, BACKOFF_START),
        fatal=fatal,
        clock=clock_from(clock, offset=timedelta(0)),
    )


def _slug(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
