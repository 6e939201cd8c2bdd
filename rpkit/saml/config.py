"""SAML service provider settings: one frozen dataclass, from a mapping or ``RPKIT_SAML_*``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ..config import (
    DUALOG_CLOUD_ISSUER,
    HttpConfig,
    _from_mapping,
    _seconds,
    check_transport,
    with_http_config,
)
from ..env import EnvSettings, build_from_env
from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_ATTRIBUTE_MAPPING",
    "DUALOG_SAML_METADATA_URL",
    "NAME_ID_FORMATS",
    "WS_CLAIMS",
    "SamlConfig",
]

# Dualog developer guide, "SAML Integration".
DUALOG_SAML_METADATA_URL = "https://crew.dualog.com/auth/saml/metadata"
"""The metadata of Dualog's cloud SAML IdP: the default ``idp_metadata_url``."""

NAME_ID_FORMATS = {
    "unspecified": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    "email": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
}

# The WS-Federation claim types that Rock Solid Knowledge's SAML2P (Dualog's IdP) uses as
# attribute names by default ("DefaultClaimMapping"); custom claims such as Dualog's `rank`
# keep their own claim type as the name.
WS_CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"

# CrewIdentity field -> attribute names accepted for it, first match wins, matched
# case-exactly against each Attribute's Name (and FriendlyName). Plain names first, then
# the WS-Fed claim URIs, then the X.500/eduPerson OIDs (SAML V2.0 X.500/LDAP Attribute
# Profile): mail, displayName, cn, givenName, sn. The camelCase names are Dualog's SCIM
# seafarer extension. Override per field with ``attribute_mapping``.
DEFAULT_ATTRIBUTE_MAPPING: Mapping[str, tuple[str, ...]] = {
    "email": (
        "email",
        "mail",
        "emailAddress",
        WS_CLAIMS + "emailaddress",
        "urn:oid:0.9.2342.19200300.100.1.3",
    ),
    "name": (
        "name",
        "displayName",
        WS_CLAIMS + "name",
        "urn:oid:2.16.840.1.113730.3.1.241",
        "urn:oid:2.5.4.3",
    ),
    "given_name": ("given_name", "givenName", WS_CLAIMS + "givenname", "urn:oid:2.5.4.42"),
    "family_name": ("family_name", "surname", "sn", WS_CLAIMS + "surname", "urn:oid:2.5.4.4"),
    "rank": ("rank",),
    "department": ("department",),
    "ship_name": ("ship_name", "shipName"),
    "ship_imo": ("ship_imo", "shipImo"),
}

_ALGS = "http://www.w3.org/2001/04/xmldsig-more#"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SIGNATURE_ALGORITHMS = (
    _ALGS + "rsa-sha256",
    _ALGS + "rsa-sha384",
    _ALGS + "rsa-sha512",
    _ALGS + "ecdsa-sha256",
    _ALGS + "ecdsa-sha384",
    _ALGS + "ecdsa-sha512",
)
DIGEST_ALGORITHMS = (
    "http://www.w3.org/2001/04/xmlenc#sha256",
    _ALGS + "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SamlConfig(EnvSettings):
    """This service provider and the identity provider it trusts.

    ``sp_key_file``/``sp_cert_file`` sign AuthnRequests and logout messages and decrypt
    encrypted assertions; ``sp_next_cert_file``/``sp_next_key_file`` publish and accept a
    second pair during a key rollover. ``idp_metadata_signing_cert_file`` pins the key the
    IdP metadata must be signed with; without it the metadata's integrity rests on TLS.
    """

    ENV_PREFIX = "RPKIT_SAML_"
    ENV_KEYS = ("authn_binding",)

    sp_entity_id: str
    acs_url: str
    logout_url: str | None = None
    sp_key_file: str | None = field(default=None, repr=False)
    sp_cert_file: str | None = None
    sp_next_key_file: str | None = field(default=None, repr=False)
    sp_next_cert_file: str | None = None
    # None: the entityID of the single IdP in the metadata, read at first use (so the app
    # starts offline); an aggregate with several IdPs is refused. Without metadata settings
    # it is Dualog's issuer.
    idp_entity_id: str | None = None
    idp_metadata_url: str | None = None
    idp_metadata_file: str | None = None
    idp_metadata_signing_cert_file: str | None = None
    # None sends no NameIDPolicy: the IdP uses the format registered for this SP (RSK's
    # default is "unspecified"). Asking for one the registration does not allow gets
    # InvalidNameIDPolicy. Users are keyed by (issuer, NameID) whatever the format.
    name_id_format: str | None = None
    authn_request_binding: Literal["redirect", "post"] = "redirect"
    sign_requests: bool = True
    attribute_mapping: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_ATTRIBUTE_MAPPING)
    )
    clock_skew: timedelta = timedelta(seconds=90)
    # Oldest IssueInstant accepted on a Response or an IdP LogoutRequest.
    max_message_age: timedelta = timedelta(minutes=5)
    pending_ttl: timedelta = timedelta(minutes=10)
    max_message_bytes: int = 256 * 1024
    signature_algorithms: tuple[str, ...] = SIGNATURE_ALGORITHMS
    digest_algorithms: tuple[str, ...] = DIGEST_ALGORITHMS
    # SHA-1 signatures and digests are forgeable in practice (SHAttered, 2017).
    allow_sha1: bool = False
    # IdP-initiated SSO has no request to bind the response to; refuse it by default.
    allow_unsolicited: bool = False
    # Encrypted assertions: AES-GCM only. AES-CBC (the .NET EncryptedXml default) is a
    # padding oracle when decrypted before a signature is checked; with this switch it is
    # accepted, and only inside a signed Response (which RSK SAML2P always signs).
    allow_aes_cbc: bool = False
    metadata_min_refresh: timedelta = timedelta(minutes=5)
    metadata_max_refresh: timedelta = timedelta(hours=24)
    metadata_cache_dir: str | None = None
    metadata_cache_max_age: timedelta = timedelta(days=7)
    http: HttpConfig = field(default_factory=HttpConfig)

    def __post_init__(self) -> None:
        # One named step per rule, in this order (the first failure is the one reported).
        self._validate_entity_ids()
        self._validate_urls()
        self._resolve_idp_metadata()
        self._validate_files()
        self._validate_sp_keys()
        self._normalize_name_id_format()
        self._validate_binding()
        object.__setattr__(self, "attribute_mapping", _merge_mapping(self.attribute_mapping))
        self._validate_durations()
        self._validate_algorithms()

    def _validate_entity_ids(self) -> None:
        if not self.sp_entity_id:
            raise ConfigurationError('"sp_entity_id" is required')
        if self.idp_entity_id is not None and not self.idp_entity_id:
            raise ConfigurationError('"idp_entity_id" is empty; leave it unset to read it')

    def _validate_urls(self) -> None:
        for name in ("acs_url", "logout_url"):
            url = getattr(self, name)
            if url is None:
                continue
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
                raise ConfigurationError(f'"{name}" {url!r} must be an absolute URL')

    def _resolve_idp_metadata(self) -> None:
        """Default to Dualog's metadata (and issuer) when no metadata source is set."""
        if self.idp_metadata_url and self.idp_metadata_file:
            raise ConfigurationError('set "idp_metadata_url" or "idp_metadata_file", not both')
        if self.idp_metadata_url is None and self.idp_metadata_file is None:
            object.__setattr__(self, "idp_metadata_url", DUALOG_SAML_METADATA_URL)
        if self.idp_entity_id is None and self.idp_metadata_url == DUALOG_SAML_METADATA_URL:
            object.__setattr__(self, "idp_entity_id", DUALOG_CLOUD_ISSUER)
        if self.idp_metadata_url is not None:
            check_transport(self.idp_metadata_url, "idp_metadata_url", self.http)

    def _validate_files(self) -> None:
        for name in (
            "sp_key_file",
            "sp_cert_file",
            "sp_next_key_file",
            "sp_next_cert_file",
            "idp_metadata_file",
            "idp_metadata_signing_cert_file",
        ):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigurationError(f'"{name}" {path!r} is not a readable file')

    def _validate_sp_keys(self) -> None:
        if (self.sp_key_file is None) != (self.sp_cert_file is None):
            raise ConfigurationError('"sp_key_file" and "sp_cert_file" go together')
        if (self.sp_next_key_file is None) != (self.sp_next_cert_file is None):
            raise ConfigurationError('"sp_next_key_file" and "sp_next_cert_file" go together')
        if self.sign_requests and self.sp_key_file is None:
            raise ConfigurationError(
                '"sign_requests" needs "sp_key_file"/"sp_cert_file" (generate them with '
                "rpkit.saml.certs.generate_sp_certificate)"
            )

    def _normalize_name_id_format(self) -> None:
        """Accept a short name (``email``) or a URN; store the URN."""
        if self.name_id_format is None:
            return
        fmt = NAME_ID_FORMATS.get(self.name_id_format, self.name_id_format)
        if fmt not in NAME_ID_FORMATS.values():
            raise ConfigurationError(
                f'"name_id_format" {self.name_id_format!r} must be one of '
                f"{', '.join(NAME_ID_FORMATS)} or its URN"
            )
        object.__setattr__(self, "name_id_format", fmt)

    def _validate_binding(self) -> None:
        if self.authn_request_binding not in ("redirect", "post"):
            raise ConfigurationError(
                f'"authn_request_binding" {self.authn_request_binding!r} must be '
                '"redirect" or "post"'
            )

    def _validate_durations(self) -> None:
        for name in (
            "clock_skew",
            "max_message_age",
            "pending_ttl",
            "metadata_min_refresh",
            "metadata_max_refresh",
            "metadata_cache_max_age",
        ):
            _seconds(getattr(self, name), name)
            if getattr(self, name) < timedelta(0):
                raise ConfigurationError(f'"{name}" must not be negative')
        if self.metadata_min_refresh > self.metadata_max_refresh:
            raise ConfigurationError('"metadata_min_refresh" exceeds "metadata_max_refresh"')
        if self.max_message_bytes < 1024:
            raise ConfigurationError('"max_message_bytes" must be at least 1024')

    def _validate_algorithms(self) -> None:
        """Only known algorithms; SHA-1 only with ``allow_sha1``; neither list empty."""
        _check_algorithms(
            "signature_algorithms",
            self.signature_algorithms,
            SIGNATURE_ALGORITHMS,
            RSA_SHA1,
            allow_sha1=self.allow_sha1,
        )
        _check_algorithms(
            "digest_algorithms",
            self.digest_algorithms,
            DIGEST_ALGORITHMS,
            SHA1,
            allow_sha1=self.allow_sha1,
        )
        if not self.signature_algorithms or not self.digest_algorithms:
            raise ConfigurationError('"signature_algorithms"/"digest_algorithms" are empty')

    @property
    def accepted_signature_algorithms(self) -> frozenset[str]:
        """Signature methods accepted on incoming messages (SHA-1 only with ``allow_sha1``)."""
        extra = {RSA_SHA1} if self.allow_sha1 else set()
        return frozenset(self.signature_algorithms) | extra

    @property
    def accepted_digest_algorithms(self) -> frozenset[str]:
        extra = {SHA1} if self.allow_sha1 else set()
        return frozenset(self.digest_algorithms) | extra

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SamlConfig:
        """Build from field names; ``http`` may be a nested mapping; unknown keys raise.

        ``attribute_mapping`` may be a mapping of field to a name or a list of names, or the
        env form ``"rank=urn:x:rank|rank,email=mail"``. ``authn_binding`` (env
        ``RPKIT_SAML_AUTHN_BINDING``) is the short name of ``authn_request_binding``.
        """
        values = with_http_config(values)
        if "authn_binding" in values:
            if "authn_request_binding" in values:
                raise ConfigurationError('set "authn_binding" or "authn_request_binding", not both')
            values["authn_request_binding"] = values.pop("authn_binding")
        binding = values.get("authn_request_binding")
        if isinstance(binding, str):
            values["authn_request_binding"] = binding.strip().lower()
        mapping = values.get("attribute_mapping")
        if isinstance(mapping, str):
            pairs = [p.split("=", 1) for p in mapping.replace(",", " ").split() if p]
            if any(len(p) != 2 for p in pairs):
                raise ConfigurationError('"attribute_mapping" must be "field=name|name" pairs')
            values["attribute_mapping"] = {k: tuple(v.split("|")) for k, v in pairs}
        return _from_mapping(cls, values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SamlConfig:
        """Build from ``RPKIT_SAML_*`` and ``RPKIT_HTTP_*`` (plus ``RPKIT_CA_BUNDLE``).

        Unknown ``RPKIT_SAML_`` variables raise with a "did you mean", so a typo is not
        silently ignored; messages name the variables.
        """
        return build_from_env(cls, cls.from_mapping, environ)


def env_variables() -> frozenset[str]:
    """The ``RPKIT_*`` variables ``SamlConfig`` reads (see ``rpkit.env``)."""
    return SamlConfig.env_variables()


def _merge_mapping(mapping: Mapping[str, Any]) -> Mapping[str, tuple[str, ...]]:
    merged = dict(DEFAULT_ATTRIBUTE_MAPPING)
    for key, names in mapping.items():
        if key not in DEFAULT_ATTRIBUTE_MAPPING:
            raise ConfigurationError(
                f'"attribute_mapping" key {key!r} is not one of '
                f"{', '.join(DEFAULT_ATTRIBUTE_MAPPING)}"
            )
        if isinstance(names, str):
            names = (names,)
        names = tuple(names)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ConfigurationError(f'"attribute_mapping" for {key!r} must list names')
        merged[key] = names
    return merged


def _check_algorithms(
    name: str,
    algorithms: tuple[str, ...],
    supported: tuple[str, ...],
    sha1: str,
    *,
    allow_sha1: bool,
) -> None:
    for alg in algorithms:
        if alg not in supported and alg != sha1:
            raise ConfigurationError(f'"{name}" has unsupported {alg!r}')
        if alg == sha1 and not allow_sha1:
            raise ConfigurationError(f'"{name}" lists SHA-1; set "allow_sha1"')
