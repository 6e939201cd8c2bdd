"""SAML service providers the sandbox knows: from config, from SP metadata, or ad hoc."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from lxml import etree

from ..errors import ConfigurationError
from .config import SamlServiceProviderConfig

__all__ = [
    "BINDING_POST",
    "BINDING_REDIRECT",
    "RegisteredSP",
    "SamlEndpoint",
    "SamlMetadataError",
    "fetch_metadata",
    "parse_sp_metadata",
    "parse_xml",
    "sp_from_config",
]

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
_MAX_METADATA = 1024 * 1024


class SamlMetadataError(ValueError):
    """SP metadata (or another SAML document) is unusable; the message says why."""


@dataclass(frozen=True, slots=True)
class SamlEndpoint:
    """One SP endpoint: where to send, over which binding."""

    url: str
    binding: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RegisteredSP:
    """A service provider allowed to sign in through the sandbox."""

    entity_id: str
    acs: tuple[SamlEndpoint, ...]
    slo: tuple[SamlEndpoint, ...] = ()
    name_id_format: str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    # PEM certificates the SP signs requests with (its registered SigningCertificates).
    signing_certs: tuple[bytes, ...] = ()
    require_signed_requests: bool = True
    attribute_names: str = "claim_uris"
    claims_mapping: Mapping[str, str] | None = None

    def acs_for(self, url: str | None) -> SamlEndpoint | None:
        """The ACS endpoint for ``url`` (must be registered), or the default one."""
        if url is None:
            posts = [a for a in self.acs if a.binding == BINDING_POST]
            candidates = posts or list(self.acs)
            return candidates[0] if candidates else None
        return next((a for a in self.acs if a.url == url), None)

    def slo_endpoint(self) -> SamlEndpoint | None:
        """The SP's logout endpoint, preferring HTTP-POST."""
        posts = [s for s in self.slo if s.binding == BINDING_POST]
        candidates = posts or list(self.slo)
        return candidates[0] if candidates else None


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML: no DTDs, no entities, no network."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise SamlMetadataError("XML with a DTD is refused")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        load_dtd=False,
    )
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise SamlMetadataError("the XML is not well-formed") from err


def parse_sp_metadata(data: bytes) -> RegisteredSP:
    """Read an SP's entity ID, ACS and SLO endpoints from its metadata."""
    root = parse_xml(data)
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        found = root.find(f"{{{MD}}}EntityDescriptor")
        if found is None:
            raise SamlMetadataError("the metadata has no EntityDescriptor")
        root = found
    if root.tag != f"{{{MD}}}EntityDescriptor":
        raise SamlMetadataError("the metadata's root is not an md:EntityDescriptor")
    entity_id = root.get("entityID")
    descriptor = root.find(f"{{{MD}}}SPSSODescriptor")
    if not entity_id or descriptor is None:
        raise SamlMetadataError("the metadata has no entityID or SPSSODescriptor")

    def endpoints(tag: str) -> tuple[SamlEndpoint, ...]:
        items = []
        for el in descriptor.findall(f"{{{MD}}}{tag}"):
            url, binding = el.get("Location"), el.get("Binding")
            if url and binding in (BINDING_POST, BINDING_REDIRECT):
                items.append(SamlEndpoint(url, binding))
        return tuple(items)

    acs = endpoints("AssertionConsumerService")
    if not acs:
        raise SamlMetadataError("the metadata has no HTTP-POST or HTTP-Redirect ACS")
    formats = [el.text.strip() for el in descriptor.findall(f"{{{MD}}}NameIDFormat") if el.text]
    certs = []
    for key in descriptor.findall(f"{{{MD}}}KeyDescriptor"):
        if key.get("use") not in (None, "", "signing"):
            continue
        for cert in key.findall(f".//{{{DS}}}X509Certificate"):
            der = "".join((cert.text or "").split())
            if der:
                body = "\n".join(der[i : i + 64] for i in range(0, len(der), 64))
                certs.append(f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
    sp = RegisteredSP(
        entity_id=entity_id,
        acs=acs,
        slo=endpoints("SingleLogoutService"),
        signing_certs=tuple(c.encode() for c in certs),
    )
    if formats:
        sp = replace(sp, name_id_format=formats[0])
    return sp


def fetch_metadata(url: str) -> bytes:
    """Download SP metadata (http/https only, 1 MiB cap, 10 s timeout)."""
    if not url.startswith(("http://", "https://")):
        raise SamlMetadataError("the metadata URL must be http or https")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - scheme checked
            data: bytes = response.read(_MAX_METADATA + 1)
    except OSError as err:
        raise SamlMetadataError(f"cannot fetch SP metadata from {url}") from err
    if len(data) > _MAX_METADATA:
        raise SamlMetadataError("the SP metadata is larger than 1 MiB")
    return data


def sp_from_config(config: SamlServiceProviderConfig) -> RegisteredSP:
    """Resolve a configured SP (reading its metadata file or URL if given)."""
    certs: tuple[bytes, ...] = ()
    if config.signing_cert_file is not None:
        try:
            certs = (Path(config.signing_cert_file).read_bytes(),)
        except OSError as err:
            raise ConfigurationError(
                f"sandbox SAML SP signing_cert_file {config.signing_cert_file!r} is unreadable"
            ) from err
    try:
        if config.metadata_file is not None:
            sp = parse_sp_metadata(Path(config.metadata_file).read_bytes())
        elif config.metadata_url is not None:
            sp = parse_sp_metadata(fetch_metadata(config.metadata_url))
        else:
            sp = RegisteredSP(
                entity_id=config.entity_id,
                acs=tuple(SamlEndpoint(u, BINDING_POST) for u in config.acs_urls),
                slo=tuple(SamlEndpoint(u, BINDING_POST) for u in config.slo_urls),
                name_id_format=config.name_id_format,
            )
    except (OSError, SamlMetadataError) as err:
        raise ConfigurationError(f"sandbox SAML SP metadata is unusable: {err}") from err
    return replace(
        sp,
        signing_certs=certs or sp.signing_certs,
        require_signed_requests=config.require_signed_requests,
        attribute_names=config.attribute_names,
        claims_mapping=dict(config.claims_mapping) if config.claims_mapping else None,
    )
