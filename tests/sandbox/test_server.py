"""Starting the sandbox: CLI, banner and env block, config files, base URL, fail-closed edges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from rpkit.cli import build_parser, main
from rpkit.errors import ConfigurationError
from rpkit.sandbox import SandboxConfig, SandboxServer, env_block
from rpkit.sandbox.models import is_valid_imo
from rpkit.testing import SandboxHandle, sandbox_server

from .helpers import INGRID, form_action, form_fields
from .saml_helpers import authn_request, redirect_encode

SEED = Path(__file__).parents[2] / "rpkit" / "sandbox" / "seed.json"


def test_seed_ships_have_valid_imo_numbers() -> None:
    """Every seeded IMO number has a valid check digit; the seed covers the required cases."""
    seed = json.loads(SEED.read_text())
    assert all(is_valid_imo(s["imo"]) for s in seed["ships"])
    assert not is_valid_imo("9312457")
    users = seed["users"]
    assert any(u.get("active") is False for u in users)
    assert {u["department"] for u in users} == {"Deck", "Engine", "Catering"}
    assert {"Master", "Chief Officer", "Second Officer", "AB", "Chief Engineer", "Cook"} <= {
        u["rank"] for u in users
    }
    starts = [u["contractStartDate"] for u in users]
    ends = [u["contractEndDate"] for u in users]
    assert any(s.startswith("+") for s in starts) and any(e.startswith("-") for e in ends)


def test_banner_prints_every_url_and_env_block(sandbox: SandboxHandle) -> None:
    """The start-up banner lists the URLs and a paste-ready env block for the demo app."""
    banner = sandbox.server.banner()
    for url in sandbox.urls.values():
        assert url in banner
    env = env_block(sandbox.state)
    assert env == {
        "RPKIT_OIDC_ISSUER": sandbox.issuer,
        "RPKIT_OIDC_CLIENT_ID": "rpkit-demo",
        "RPKIT_OIDC_CLIENT_SECRET": "rpkit-demo-secret",
        "RPKIT_SAML_IDP_METADATA_URL": sandbox.urls["saml_metadata"],
        "RPKIT_SCIM_BASE_URL": sandbox.urls["scim_base"],
        "RPKIT_SCIM_TOKEN_URL": sandbox.urls["token"],
        "RPKIT_SCIM_CLIENT_ID": "rpkit-scim",
        "RPKIT_SCIM_CLIENT_SECRET": "rpkit-scim-secret",
    }
    assert "\n".join(f"{k}={v}" for k, v in env.items()) in banner


def test_public_base_url_in_discovery(tmp_path: Path) -> None:
    """Discovery served on loopback names the proxy's URLs."""
    server = SandboxServer(
        SandboxConfig(port=0, data_dir=tmp_path, base_url="https://proxy.example")
    ).start()
    try:
        doc = requests.get(
            f"http://127.0.0.1:{server.port}/auth/.well-known/openid-configuration", timeout=10
        ).json()
    finally:
        server.stop()
    assert doc["issuer"] == "https://proxy.example/auth"
    assert doc["token_endpoint"] == "https://proxy.example/auth/connect/token"


def test_config_file_adds_clients_and_sps(tmp_path: Path) -> None:
    """A JSON config file registers extra clients and SPs (from SP metadata files)."""
    metadata = tmp_path / "sp.xml"
    metadata.write_text(
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'entityID="https://files.example/sp"><md:SPSSODescriptor protocolSupportEnumeration='
        '"urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService index="0" '
        'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        'Location="https://files.example/acs"/></md:SPSSODescriptor></md:EntityDescriptor>'
    )
    config_file = tmp_path / "sandbox.json"
    config_file.write_text(
        json.dumps(
            {
                "clients": [
                    {
                        "client_id": "ship-app",
                        "client_secret": "s3cret-value",
                        "redirect_uris": ["https://ship.example/cb"],
                        "grant_types": ["client_credentials"],
                        "scopes": ["crew_read"],
                    }
                ],
                "service_providers": [{"metadata_file": str(metadata)}],
            }
        )
    )
    config = SandboxConfig.load(config_file, port=0, data_dir=tmp_path / "data")
    assert {c.client_id for c in config.clients} >= {"rpkit-demo", "ship-app"}
    with sandbox_server(
        **{f: getattr(config, f) for f in ("data_dir", "clients", "service_providers")}
    ) as handle:
        token = requests.post(
            handle.urls["token"],
            data={"grant_type": "client_credentials"},
            auth=("ship-app", "s3cret-value"),
            timeout=10,
        ).json()
        assert token["scope"] == "crew_read"
        assert "https://files.example/sp" in handle.state.service_providers


@pytest.mark.parametrize(
    "content",
    [
        '{"clients": [{"client_id": "x", "typo": 1}]}',
        '{"unknown": 1}',
        "not json",
        '{"clients": [{"client_id": "x"}]}',
    ],
    ids=["unknown_client_key", "unknown_key", "not_json", "no_secret"],
)
def test_bad_config_files_raise(tmp_path: Path, content: str) -> None:
    """Config typos raise ConfigurationError instead of vanishing."""
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError):
        SandboxConfig.load(path)


def test_allow_any_sp_dev_mode(tmp_path: Path) -> None:
    """With allow_any_sp, an unregistered SP gets an assertion at the ACS it names."""
    with sandbox_server(tmp_path, allow_any_sp=True) as handle, requests.Session() as http:
        _, xml = authn_request(
            handle.urls["saml_sso"],
            issuer="https://anyone.example/sp",
            acs="https://anyone.example/acs",
        )
        page = http.get(
            handle.urls["saml_sso"], params={"SAMLRequest": redirect_encode(xml)}, timeout=10
        )
        answer = http.post(
            form_action(page.text), data={**form_fields(page.text), "card": INGRID}, timeout=10
        )
    assert form_action(answer.text) == "https://anyone.example/acs"


def test_unknown_paths_and_methods_fail_closed(sandbox: SandboxHandle) -> None:
    """Unknown paths are a 404 and wrong methods a 405, both with a JSON body."""
    missing = requests.get(sandbox.base_url + "/nope", timeout=10)
    assert missing.status_code == 404 and missing.json()["status"] == 404
    wrong = requests.get(sandbox.urls["token"], timeout=10)
    assert wrong.status_code == 405
    huge = requests.post(sandbox.urls["token"], data="x" * (2 * 1024 * 1024), timeout=10)
    assert huge.status_code == 413


def test_port_in_use_is_a_configuration_error(sandbox: SandboxHandle, tmp_path: Path) -> None:
    """Binding a taken port raises ConfigurationError, not OSError."""
    with pytest.raises(ConfigurationError):
        SandboxServer(SandboxConfig(port=sandbox.server.port, data_dir=tmp_path)).start()


def test_cli_parser_has_sandbox_and_reset() -> None:
    """`rpkit sandbox` takes host/port/base-url/data-dir/seed; `reset` is a subcommand."""
    parser = build_parser()
    args = parser.parse_args(
        ["sandbox", "--port", "0", "--base-url", "http://x.example", "--seed", "s.json"]
    )
    assert args.port == 0 and args.base_url == "http://x.example" and args.seed == "s.json"
    assert parser.parse_args(["sandbox", "reset", "--data-dir", "d"]).data_dir == "d"
    assert main([]) == 2


def test_cli_reset_restores_the_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpkit sandbox reset --data-dir` restores the crew store a running sandbox reads."""
    with sandbox_server(tmp_path) as handle:
        handle.state.store.delete_user("87234")
        assert main(["sandbox", "reset", "--data-dir", str(tmp_path)]) == 0
        assert handle.state.store.find_user(INGRID) is not None
    assert "reset" in capsys.readouterr().out


def test_cli_reset_over_admin_api(sandbox: SandboxHandle) -> None:
    """`rpkit sandbox reset --url --admin-token` resets a running sandbox."""
    sandbox.state.store.delete_user("87234")
    assert (
        main(["sandbox", "reset", "--url", sandbox.base_url, "--admin-token", sandbox.admin_token])
        == 0
    )
    assert sandbox.state.store.find_user(INGRID) is not None
    assert main(["sandbox", "reset", "--url", sandbox.base_url, "--data-dir", "/nonexistent"]) == 2
