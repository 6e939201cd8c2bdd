"""Discovery document validation and the actionable issuer-mismatch message."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rpkit.config import HttpConfig, OidcConfig
from rpkit.errors import MetadataError
from rpkit.oidc import parse_provider_metadata

ISSUER = "https://10.0.0.5/auth"


def document(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/connect/authorize",
        "token_endpoint": f"{ISSUER}/connect/token",
        "jwks_uri": f"{ISSUER}/.well-known/openid-configuration/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def parse(doc: dict[str, Any], ship: bool = True) -> Any:
    return parse_provider_metadata(doc, expected_issuer=ISSUER, http=HttpConfig(), ship_hint=ship)


def test_valid_document_is_parsed() -> None:
    assert parse(document()).token_endpoint == f"{ISSUER}/connect/token"


def test_issuer_mismatch_tells_the_ship_host_to_set() -> None:
    with pytest.raises(MetadataError) as exc:
        parse(document(issuer="https://shipserver.local/auth"))
    assert str(exc.value) == (
        "configured https://10.0.0.5/auth but the server calls itself "
        "https://shipserver.local/auth: set the ship host to shipserver.local "
        "(RPKIT_OIDC_SHIP_HOST=shipserver.local) and make that name resolve on the ship's "
        "LAN, or fix the server's public origin"
    )


def test_issuer_mismatch_off_ship_names_the_issuer_setting() -> None:
    with pytest.raises(MetadataError, match=re.escape("RPKIT_OIDC_ISSUER=https://idp.example/x")):
        parse(document(issuer="https://idp.example/x"), ship=False)


@pytest.mark.parametrize("name", ["issuer", "token_endpoint", "jwks_uri", "authorization_endpoint"])
def test_required_field_missing_is_an_error(name: str) -> None:
    with pytest.raises(MetadataError, match=name):
        parse(document(**{name: None}))


def test_plain_http_endpoint_on_another_host_is_refused() -> None:
    with pytest.raises(MetadataError, match="plain http"):
        parse(document(token_endpoint="http://10.0.0.9/auth/connect/token"))


def test_iss_parameter_support_is_read() -> None:
    meta = parse(document(authorization_response_iss_parameter_supported=True))
    assert meta.authorization_response_iss_parameter_supported


def test_client_does_no_io_when_constructed() -> None:
    from rpkit.oidc import OidcClient

    # An unreachable ship server: building the client must not fail or block.
    OidcClient(OidcConfig.ship("192.0.2.1", client_id="a"))
