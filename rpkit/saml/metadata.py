"""IdP metadata: load and check it, keep it fresh, survive restarts at sea without it.

``load_idp_metadata`` is pure (bytes in, :class:`IdpMetadata` out). :class:`IdpMetadataSource`
adds the IO: HTTPS fetch through :mod:`rpkit._http` (timeout, CA, pinning), refresh at
``min(validUntil, cacheDuration) x 0.75`` clamped to the configured bounds with backoff on
failure, a last-known-good copy on disk, and a warning when the IdP's signing keys change.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from .._cache import DiskCopy, LastKnownGood
from .._clock import Clock, clock_from_datetimes
from .._http import HttpClient, error_from_response
from ..errors import MetadataError, SamlResponseError
from ..store import FileCache
from . import _gate, _pysaml2, _xmlsec
from .config import SamlConfig

__all__ = ["IdpMetadata", "IdpMetadataSource", "load_idp_metadata", "parse_duration"]

log = logging.getLogger("rpkit.saml")

_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str) -> timedelta:
    """Parse an xs:duration (``PT6H``, ``P1D``); years and months count 365 and 30 days."""
    match = _DURATION.match(value.strip())
    if not match or value.strip() in ("P", "PT") or value.strip().endswith("T"):
        raise MetadataError(f"SAML metadata duration {value!r} is not an xs:duration")
    y, mo, w, d, h, mi, s = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(days=y * 365 + mo * 30 + w * 7 + d, hours=h, minutes=mi, seconds=s)


_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?$")


def parse_instant(value: str) -> datetime:
    """Parse an xs:dateTime as SAML uses it (UTC, ``Z`` or offset, optional fraction)."""
    text = value.strip()
    if not _DATETIME.match(text):
        raise ValueError(f"not an xs:dateTime: {text[:40]!r}")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _pem(der_b64: str) -> bytes:
    body = "\n".join(der_b64[i : i + 64] for i in range(0, len(der_b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()


@dataclass(frozen=True, kw_only=True, slots=True)
class IdpMetadata:
    """One identity provider as its (verified, unexpired) metadata describes it."""

    entity_id: str
    signing_certs: tuple[bytes, ...]
    sso_redirect_url: str | None
    sso_post_url: str | None
    slo_redirect_url: str | None = None
    slo_post_url: str | None = None
    name_id_formats: tuple[str, ...] = ()
    valid_until: datetime | None = None
    cache_duration: timedelta | None = None
    xml: bytes = field(default=b"", repr=False)
    # Signing certificates dropped as too weak (see ``certificate_weakness``): never used
    # to trust a message, only to tell "signed by a weak key" from "badly signed".
    weak_certs: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def key_fingerprints(self) -> frozenset[str]:
        return frozenset(hashlib.sha256(c).hexdigest() for c in self.signing_certs)

    @property
    def has_logout(self) -> bool:
        return bool(self.slo_redirect_url or self.slo_post_url)

    def check_valid(self, now: datetime) -> None:
        """Raise ``MetadataError`` when ``validUntil`` has passed (SAML Metadata §2.2.1)."""
        if self.valid_until is not None and now >= self.valid_until:
            raise MetadataError(
                f'SAML metadata for "{self.entity_id}" expired at {self.valid_until.isoformat()}'
            )


def verify_keys(idp: IdpMetadata) -> tuple[xmlsec.Key, ...]:
    """The IdP's signing keys loaded for python-xmlsec (internal: keeps xmlsec off the API).

    Loaded once per metadata version (its certificates), not per message.
    """
    return _keys_of(idp.signing_certs)


@functools.lru_cache(maxsize=16)
def _keys_of(certs: tuple[bytes, ...]) -> tuple[xmlsec.Key, ...]:
    return tuple(_xmlsec.load_verify_key(c) for c in certs)


def weak_keys(idp: IdpMetadata) -> tuple[xmlsec.Key, ...]:
    """The dropped weak keys, only to name the reason when one of them made a signature."""
    return tuple(_xmlsec.load_verify_key(c) for c in idp.weak_certs)


# The same rule as for OIDC JWKS (rpkit.oidc.keys): RSA of 2048 bits or more (RFC 7518
# §3.3, NIST SP 800-131A), EC only on the NIST curves P-256, P-384, P-521.
_MIN_RSA_BITS = 2048
_EC_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def certificate_weakness(cert_pem: bytes) -> str | None:
    """Why a signing certificate's key is too weak to trust, or None."""
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < _MIN_RSA_BITS:
        return f"RSA key of {key.key_size} bits (rpkit requires {_MIN_RSA_BITS})"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in _EC_CURVES:
        return f"EC key on curve {key.curve.name} (rpkit accepts P-256, P-384, P-521)"
    return None


def _describe(cert_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    return f'"{cert.subject.rfc4514_string()[:80]}" (SHA-256 {digest[:16]}...)'


def load_idp_metadata(
    xml: bytes,
    *,
    entity_id: str | None,
    now: datetime,
    signing_cert: bytes | None = None,
    config: SamlConfig | None = None,
) -> IdpMetadata:
    """Check and parse IdP metadata; with ``signing_cert`` its signature is required.

    ``entity_id=None`` takes the single identity provider the metadata describes.

    Raises ``MetadataError`` for hostile, unsigned (when pinned), wrongly signed, expired
    or incomplete metadata.
    """
    # The same cap as the download (HttpConfig.max_metadata_bytes), for a file too.
    max_bytes = config.http.max_metadata_bytes if config is not None else 4 * 1024 * 1024
    try:
        root = _gate.parse(xml, max_bytes=max_bytes, what="SAML metadata")
        if root.tag not in (
            _gate.qname("md", "EntityDescriptor"),
            _gate.qname("md", "EntitiesDescriptor"),
        ):
            raise SamlResponseError("malformed", "SAML metadata root is not an EntityDescriptor")
        if signing_cert is not None:
            _gate.signatures_of(root, [root], "SAML metadata")
            sig = _xmlsec.signature_of(root)
            if sig is None:
                raise SamlResponseError("signature", "SAML metadata is not signed")
            sig_algs = config.accepted_signature_algorithms if config else None
            digest_algs = config.accepted_digest_algorithms if config else None
            algorithms = _gate.check_signature(
                sig,
                signed=root,
                signature_algorithms=sig_algs or frozenset(_xmlsec_sig_defaults()),
                digest_algorithms=digest_algs or frozenset(_digest_defaults()),
                what="SAML metadata",
            )
            _xmlsec.verify_enveloped(
                root,
                sig,
                [_xmlsec.load_verify_key(signing_cert)],
                algorithms=algorithms,
                what="SAML metadata",
            )
    except SamlResponseError as err:
        raise MetadataError(f"{err.message} ({err.reason})") from err
    parsed = _pysaml2.parse_idp_metadata(xml, entity_id)
    valid_until = None
    if parsed.valid_until:
        try:
            valid_until = parse_instant(parsed.valid_until)
        except ValueError as err:
            raise MetadataError("SAML metadata validUntil is not a dateTime") from err
    cache_duration = parse_duration(parsed.cache_duration) if parsed.cache_duration else None
    sso = dict(parsed.sso)
    slo = {binding: location for binding, location, _ in parsed.slo}
    if not parsed.signing_certs:
        raise MetadataError(f'SAML metadata for "{parsed.entity_id}" has no signing certificate')
    strong: list[bytes] = []
    weak: list[bytes] = []
    for cert in (_pem(c) for c in parsed.signing_certs):
        try:
            _xmlsec.load_verify_key(cert)
            why = certificate_weakness(cert)
        except ValueError as err:
            raise MetadataError("SAML metadata has an unreadable signing certificate") from err
        if why is not None:
            log.warning(
                'rpkit: SAML IdP "%s": dropping signing certificate %s: %s',
                parsed.entity_id,
                _describe(cert),
                why,
            )
            weak.append(cert)
        else:
            strong.append(cert)
    certs = tuple(strong)
    metadata = IdpMetadata(
        entity_id=parsed.entity_id,
        signing_certs=certs,
        sso_redirect_url=sso.get(_pysaml2.BINDING_REDIRECT),
        sso_post_url=sso.get(_pysaml2.BINDING_POST),
        slo_redirect_url=slo.get(_pysaml2.BINDING_REDIRECT),
        slo_post_url=slo.get(_pysaml2.BINDING_POST),
        name_id_formats=parsed.name_id_formats,
        valid_until=valid_until,
        cache_duration=cache_duration,
        xml=xml,
        weak_certs=tuple(weak),
    )
    if not (metadata.sso_redirect_url or metadata.sso_post_url):
        raise MetadataError("SAML metadata has no HTTP-Redirect or HTTP-POST SSO endpoint")
    metadata.check_valid(now)
    return metadata


def _xmlsec_sig_defaults() -> tuple[str, ...]:
    from .config import SIGNATURE_ALGORITHMS

    return SIGNATURE_ALGORITHMS


def _digest_defaults() -> tuple[str, ...]:
    from .config import DIGEST_ALGORITHMS

    return DIGEST_ALGORITHMS


class IdpMetadataSource:
    """The IdP metadata named by a :class:`SamlConfig`, refreshed on schedule.

    The last-known-good rules of :mod:`rpkit._cache` (backoff up to
    ``metadata_max_refresh``, the disk copy within ``metadata_cache_max_age``), with the
    refresh due at ``min(validUntil, cacheDuration) x 0.75`` clamped to the configured bounds.

    :meth:`get` returns metadata whose ``validUntil`` has not passed, or raises
    ``MetadataError``/``ProviderError``; it never hands out expired metadata.
    """

    def __init__(
        self,
        config: SamlConfig,
        *,
        http: HttpClient | None = None,
        clock: Clock | Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self._http = http
        self._clock = clock_from_datetimes(clock)
        self._pinned: bytes | None = None
        if config.idp_metadata_signing_cert_file:
            self._pinned = Path(config.idp_metadata_signing_cert_file).read_bytes()
        # Unset in the config, the entity ID is read from the first metadata loaded and
        # pinned from then on: a refresh naming another entity is refused, not followed.
        self._entity_id: str | None = config.idp_entity_id
        source = config.idp_entity_id or config.idp_metadata_url or config.idp_metadata_file or ""
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        files = FileCache(config.metadata_cache_dir) if config.metadata_cache_dir else None
        disk_name = f"saml-idp-metadata-{digest}"
        self._cache = LastKnownGood(
            fetch=self._fetch,
            load=self._load_stored,
            ttl=self._interval,
            what="SAML metadata",
            log=log,
            disk=DiskCopy(files, disk_name, config.metadata_cache_max_age) if files else None,
            backoff_ceiling=config.metadata_max_refresh,
            on_update=_log_key_change,
            clock=self._clock,
        )

    @property
    def next_refresh(self) -> datetime | None:
        return self._cache.due

    def get(self, now: datetime | None = None) -> IdpMetadata:
        """Return current metadata, refreshing first when due."""
        now = now or self._clock.now()
        current = self._cache.get(now)
        current.check_valid(now)
        return current

    def refresh(self, now: datetime | None = None) -> IdpMetadata:
        """Fetch now, whatever the schedule says."""
        return self._cache.refresh(now)

    def _read(self) -> bytes:
        config = self.config
        if config.idp_metadata_file:
            try:
                return Path(config.idp_metadata_file).read_bytes()
            except OSError as err:
                raise MetadataError(f"cannot read {config.idp_metadata_file!r}") from err
        assert config.idp_metadata_url is not None
        if self._http is None:
            self._http = HttpClient(config.http)
        # Streamed and cut off at the cap: an aggregate or hostile document is never
        # downloaded whole before its size is known.
        response = self._http.request(
            "GET",
            config.idp_metadata_url,
            what="SAML metadata",
            headers={"Accept": "*/*"},
            max_bytes=config.http.max_metadata_bytes,
        )
        if response.status_code != 200:
            raise error_from_response(response, "SAML metadata")
        return bytes(response.content)

    @property
    def entity_id(self) -> str | None:
        """The IdP entity ID: configured, or read from the metadata (None before that)."""
        return self._entity_id

    def _fetch(self, now: datetime) -> tuple[IdpMetadata, Any]:
        metadata = self._load(self._read(), now)
        return metadata, {"xml": metadata.xml.decode("utf-8")}

    def _load_stored(self, stored: Any, now: datetime) -> IdpMetadata:
        if not isinstance(stored, dict) or not isinstance(stored.get("xml"), str):
            raise MetadataError("the cached SAML metadata is not a stored document")
        return self._load(stored["xml"].encode("utf-8"), now)

    def _load(self, xml: bytes, now: datetime) -> IdpMetadata:
        metadata = load_idp_metadata(
            xml,
            entity_id=self._entity_id,
            now=now,
            signing_cert=self._pinned,
            config=self.config,
        )
        if self._entity_id is None:
            log.info('rpkit: SAML IdP entity ID "%s" read from its metadata', metadata.entity_id)
            self._entity_id = metadata.entity_id
        return metadata

    def _interval(self, metadata: IdpMetadata, now: datetime) -> timedelta:
        config = self.config
        horizon = config.metadata_max_refresh
        if metadata.cache_duration is not None:
            horizon = min(horizon, metadata.cache_duration)
        if metadata.valid_until is not None:
            horizon = min(horizon, metadata.valid_until - now)
        interval = max(
            config.metadata_min_refresh, min(horizon * 0.75, config.metadata_max_refresh)
        )
        if metadata.valid_until is not None:
            # Never let the clamp schedule the refresh after the copy in hand expires.
            interval = min(interval, max(metadata.valid_until - now, timedelta(0)))
        return interval


def _log_key_change(previous: IdpMetadata | None, metadata: IdpMetadata) -> None:
    if previous is not None and previous.key_fingerprints != metadata.key_fingerprints:
        log.warning(
            'rpkit: the signing keys of SAML IdP "%s" changed (now %s)',
            metadata.entity_id,
            ", ".join(sorted(f[:16] for f in metadata.key_fingerprints)),
        )
