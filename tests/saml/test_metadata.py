"""IdP metadata: signature when pinned, validUntil at every use, refresh, backoff, disk copy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rpkit.errors import MetadataError, ProviderError
from rpkit.saml import IdpMetadataSource, SamlConfig, load_idp_metadata
from rpkit.saml._xmlsec import SigningKey

from .idp import NOW, SSO_URL, TestIdp, make_key_pair


class MetadataServer:
    """A loopback HTTP server whose body and status the test changes between calls."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/saml/metadata"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[MetadataServer]:
    srv = MetadataServer()
    yield srv
    srv.close()


@pytest.fixture
def source_for(
    server: MetadataServer, make_config: Callable[..., SamlConfig], tmp_path: Path
) -> Callable[..., IdpMetadataSource]:
    def make(**overrides: Any) -> IdpMetadataSource:
        values = {"idp_metadata_url": server.url, "metadata_cache_dir": str(tmp_path / "md")}
        values.update(overrides)
        return IdpMetadataSource(make_config(**values), clock=lambda: NOW)

    return make


def test_metadata_is_parsed(idp: TestIdp) -> None:
    """Entity ID, SSO/SLO endpoints and the signing key come from the metadata."""
    md = load_idp_metadata(idp.metadata(), entity_id=idp.entity_id, now=NOW)
    assert md.sso_redirect_url == SSO_URL and md.sso_post_url == SSO_URL
    assert md.has_logout and len(md.signing_certs) == 1
    assert md.cache_duration == timedelta(hours=6)


def test_wrong_entity_id_is_refused(idp: TestIdp) -> None:
    """Metadata for another entity is not the IdP we were configured for."""
    with pytest.raises(MetadataError):
        load_idp_metadata(idp.metadata(), entity_id="https://other.test", now=NOW)


def test_expired_metadata_is_refused(idp: TestIdp) -> None:
    """validUntil in the past fails at load time."""
    xml = idp.metadata(valid_until=NOW - timedelta(seconds=1))
    with pytest.raises(MetadataError):
        load_idp_metadata(xml, entity_id=idp.entity_id, now=NOW)


def test_valid_until_is_enforced_at_every_use(idp: TestIdp, sp: Any) -> None:
    """Metadata that was fine at load time fails once validUntil passes."""
    with pytest.raises(MetadataError):
        sp.idp(NOW + timedelta(days=3))


def test_pinned_signing_cert_requires_a_signature(idp: TestIdp) -> None:
    """With a pinned cert, unsigned or wrongly signed metadata fails; signed passes."""
    md_key = SigningKey(*make_key_pair("metadata signer"))
    other = SigningKey(*make_key_pair("someone else"))
    pin = md_key.cert_pem
    for xml in (idp.metadata(), idp.metadata(sign_with=other)):
        with pytest.raises(MetadataError):
            load_idp_metadata(xml, entity_id=idp.entity_id, now=NOW, signing_cert=pin)
    signed = idp.metadata(sign_with=md_key)
    assert load_idp_metadata(signed, entity_id=idp.entity_id, now=NOW, signing_cert=pin)


def test_doctype_in_metadata_is_refused(idp: TestIdp) -> None:
    """Metadata goes through the same hostile-input gate as responses."""
    xml = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + idp.metadata()
    with pytest.raises(MetadataError):
        load_idp_metadata(xml, entity_id=idp.entity_id, now=NOW)


def test_refresh_at_three_quarters_of_cache_duration(
    idp: TestIdp, server: MetadataServer, source_for: Callable[..., IdpMetadataSource]
) -> None:
    """cacheDuration PT6H with validUntil in 2 days schedules the refresh 4.5 h out."""
    server.body = idp.metadata()
    source = source_for()
    source.get(NOW)
    assert source.next_refresh == NOW + timedelta(hours=4, minutes=30)
    source.get(NOW + timedelta(hours=1))
    assert server.hits == 1
    source.get(NOW + timedelta(hours=5))
    assert server.hits == 2


def test_refresh_interval_is_clamped(
    idp: TestIdp, server: MetadataServer, source_for: Callable[..., IdpMetadataSource]
) -> None:
    """A one-minute cacheDuration is raised to metadata_min_refresh."""
    server.body = idp.metadata(cache_duration="PT1M")
    source = source_for(metadata_min_refresh=timedelta(minutes=5))
    source.get(NOW)
    assert source.next_refresh == NOW + timedelta(minutes=5)


def test_failed_refresh_keeps_current_and_backs_off(
    idp: TestIdp, server: MetadataServer, source_for: Callable[..., IdpMetadataSource]
) -> None:
    """A 500 on refresh keeps the metadata in hand and retries after 30 s, then 60 s."""
    server.body = idp.metadata()
    source = source_for()
    first = source.get(NOW)
    server.status = 500
    later = NOW + timedelta(hours=5)
    assert source.get(later) is first
    assert source.next_refresh == later + timedelta(seconds=30)
    again = later + timedelta(seconds=31)
    source.get(again)
    assert source.next_refresh == again + timedelta(seconds=60)


def test_last_known_good_copy_survives_a_restart(
    idp: TestIdp, server: MetadataServer, source_for: Callable[..., IdpMetadataSource]
) -> None:
    """After a restart with the IdP unreachable, the verified copy on disk is used."""
    server.body = idp.metadata()
    source_for().get(NOW)
    server.status = 503
    restarted = source_for()
    assert restarted.get(NOW + timedelta(minutes=1)).entity_id == idp.entity_id


def test_no_copy_and_no_idp_raises(
    source_for: Callable[..., IdpMetadataSource], server: MetadataServer
) -> None:
    """Without a disk copy an unreachable IdP is an error, not empty metadata."""
    server.status = 503
    with pytest.raises(ProviderError):
        source_for().get(NOW)


def test_signing_key_change_is_logged(
    idp: TestIdp,
    server: MetadataServer,
    source_for: Callable[..., IdpMetadataSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A new IdP signing key in refreshed metadata logs a warning."""
    server.body = idp.metadata()
    source = source_for()
    source.get(NOW)
    server.body = idp.metadata(cert_pem=make_key_pair("rolled")[1])
    with caplog.at_level(logging.WARNING, logger="rpkit.saml"):
        source.refresh(NOW + timedelta(minutes=1))
    assert any("signing keys" in r.getMessage() for r in caplog.records)


def test_metadata_from_file(
    idp: TestIdp, make_config: Callable[..., SamlConfig], tmp_path: Path
) -> None:
    """idp_metadata_file is read from disk instead of fetched."""
    path = tmp_path / "idp.xml"
    path.write_bytes(idp.metadata())
    config = make_config(idp_metadata_url=None, idp_metadata_file=str(path))
    assert IdpMetadataSource(config, clock=lambda: NOW).get().entity_id == idp.entity_id


def _aggregate(*entities: bytes) -> bytes:
    inner = b"".join(
        e.replace(b'ID="_md1"', f'ID="_md{i}"'.encode()) for i, e in enumerate(entities)
    )
    return (
        b'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        + inner
        + b"</md:EntitiesDescriptor>"
    )


def test_entity_id_is_read_from_metadata_with_one_idp(
    idp: TestIdp, server: MetadataServer, source_for: Callable[..., IdpMetadataSource]
) -> None:
    """Without idp_entity_id the single IdP's entityID is taken at first use, then pinned."""
    server.body = idp.metadata()
    source = source_for(idp_entity_id=None)
    assert source.entity_id is None and server.hits == 0  # nothing fetched at construction
    assert source.get(NOW).entity_id == idp.entity_id
    assert source.entity_id == idp.entity_id
    other = TestIdp("https://other.test/auth")
    server.body = other.metadata()
    later = NOW + timedelta(hours=5)
    # Metadata naming another entity is refused like any bad refresh: the copy stays.
    assert source.get(later).entity_id == idp.entity_id
    assert source.refresh(later + timedelta(minutes=1)).entity_id == idp.entity_id


def test_aggregate_with_one_idp_and_an_sp_is_accepted(
    idp: TestIdp, server: MetadataServer, source_for: Callable[..., IdpMetadataSource]
) -> None:
    """An EntitiesDescriptor with one IdP (beside SP entities) names that IdP."""
    sp_entity = (
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        b'entityID="https://sp.test/md"><md:SPSSODescriptor protocolSupportEnumeration='
        b'"urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService '
        b'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        b'Location="https://sp.test/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>'
    )
    server.body = _aggregate(sp_entity, idp.metadata())
    assert source_for(idp_entity_id=None).get(NOW).entity_id == idp.entity_id


def test_aggregate_with_several_idps_is_refused(
    idp: TestIdp, server: MetadataServer, source_for: Callable[..., IdpMetadataSource]
) -> None:
    """Several IdPs and no idp_entity_id: refused, naming them and the setting to use."""
    server.body = _aggregate(idp.metadata(), TestIdp("https://other.test/auth").metadata())
    with pytest.raises(MetadataError) as info:
        source_for(idp_entity_id=None).get(NOW)
    message = str(info.value)
    assert "2 identity providers" in message
    assert idp.entity_id in message and "https://other.test/auth" in message
    assert "RPKIT_SAML_IDP_ENTITY_ID" in message
    # Naming one of them picks it out of the aggregate.
    picked = source_for(idp_entity_id="https://other.test/auth").get(NOW)
    assert picked.entity_id == "https://other.test/auth"


def test_service_provider_starts_offline_without_entity_id(
    make_config: Callable[..., SamlConfig],
) -> None:
    """An unreachable metadata URL does not stop the SP from being built; first use raises."""
    from rpkit.saml import ServiceProvider
    from tests.flask.helpers import free_port

    url = f"http://127.0.0.1:{free_port()}/saml2/idp/metadata.php"
    sp = ServiceProvider(make_config(idp_entity_id=None, idp_metadata_url=url))
    assert sp.config.idp_entity_id is None
    with pytest.raises(ProviderError):
        sp.start_login()


def test_signature_failure_refreshes_metadata_once_for_a_rotated_key(
    idp: TestIdp,
    attacker: TestIdp,
    server: MetadataServer,
    source_for: Callable[..., IdpMetadataSource],
    pending: Any,
) -> None:
    """A response signed with a key only fresh metadata lists is accepted after one refetch;
    a forged one costs at most one refetch per metadata_min_refresh."""
    from rpkit.errors import SamlResponseError
    from rpkit.saml import ServiceProvider

    rolled = TestIdp(idp.entity_id)  # same IdP, new signing key
    server.body = idp.metadata()
    source = source_for()
    sp = ServiceProvider(source.config, metadata=source, clock=lambda: NOW)
    sp.process_response(idp.signed_response(), pending.relay_state, expected=pending, now=NOW)
    assert server.hits == 1
    server.body = rolled.metadata()
    identity = sp.process_response(
        rolled.signed_response(), pending.relay_state, expected=pending, now=NOW
    )
    assert identity.subject == "crew-4711" and server.hits == 2
    for _ in range(3):
        with pytest.raises(SamlResponseError) as info:
            sp.process_response(
                attacker.signed_response(), pending.relay_state, expected=pending, now=NOW
            )
        assert info.value.reason == "signature"
    assert server.hits == 2  # within metadata_min_refresh of the last forced fetch
    later = NOW + timedelta(minutes=6)
    with pytest.raises(SamlResponseError):
        sp.process_response(
            attacker.signed_response(), pending.relay_state, expected=pending, now=later
        )
    assert server.hits == 3
