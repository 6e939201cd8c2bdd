"""rpkit's own relying parties against the fake Dualog: the embedded default of the demo."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from rpkit.config import OidcConfig
from rpkit.errors import IdTokenError
from rpkit.oidc import OidcClient
from rpkit.saml import SamlConfig, ServiceProvider
from rpkit.sandbox.config import DEFAULT_SERVICE_PROVIDERS
from rpkit.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxHandle, sandbox_server

from ..oidc.conftest import BROWSER

ROOT = Path(__file__).resolve().parents[2]
APP = "http://127.0.0.1:5000"
MASTER = "ingrid.larsen@nordic-aurora.example"


@pytest.fixture(scope="module")
def module_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    # The demo SP as the sandbox registers it by default, with its certificate given (the
    # sandbox would otherwise read it from the app's metadata at 127.0.0.1:5000).
    demo_sp = replace(
        DEFAULT_SERVICE_PROVIDERS[0], signing_cert_file=str(ROOT / "certs" / "demo-sp.crt")
    )
    with sandbox_server(tmp_path_factory.mktemp("sandbox"), service_providers=(demo_sp,)) as handle:
        yield handle


@pytest.fixture
def sandbox(module_sandbox: SandboxHandle) -> SandboxHandle:
    module_sandbox.reset()
    return module_sandbox


def oidc_client(sandbox: SandboxHandle) -> OidcClient:
    return OidcClient(
        OidcConfig(
            issuer=sandbox.issuer,
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            redirect_uri=f"{APP}/auth/oidc/callback",
            post_logout_redirect_uri=f"{APP}/",
        )
    )


def click_card(
    http: requests.Session, page: requests.Response, user_name: str
) -> requests.Response:
    """On the sandbox login page, click ``user_name``'s crew card (a form post)."""
    assert page.status_code == 200, page.text[:300]
    form = (
        page.text.split("id=crew-cards", 1)[0].rsplit("<form", 1)[1]
        + page.text.split("id=crew-cards", 1)[1].split("</form>", 1)[0]
    )
    action = unescape(re.search(r'action="([^"]*)"', form).group(1))  # type: ignore[union-attr]
    fields = {
        unescape(k): unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', form)
    }
    target = requests.compat.urljoin(page.url, action)
    return http.post(target, data={**fields, "card": user_name}, allow_redirects=False, timeout=10)


def pick_crew(http: requests.Session, url: str, user_name: str) -> requests.Response:
    """Open the sandbox login page at ``url`` and click ``user_name``'s crew card."""
    return click_card(http, http.get(url, timeout=10), user_name)


def oidc_login(client: OidcClient, user_name: str = MASTER) -> object:
    url = client.start_login(browser_token=BROWSER).url
    answer = pick_crew(requests.Session(), url, user_name)
    assert answer.status_code in (302, 303), answer.text[:300]
    params = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
    return client.finish_login(params, fetch_userinfo=True, browser_token=BROWSER)


def test_oidc_login_yields_rank_and_ship(sandbox: SandboxHandle) -> None:
    result = oidc_login(oidc_client(sandbox))
    identity = result.identity  # type: ignore[attr-defined]
    assert identity.rank == "Master"
    assert identity.ship_name
    assert identity.issuer == sandbox.issuer


@pytest.mark.parametrize(
    ("in_id_token", "back_channel"),
    [(False, {"token": 1, "userinfo": 1}), (True, {"token": 1})],
    ids=["duende-default-claims-in-userinfo", "always_include_user_claims_in_id_token"],
)
def test_warm_oidc_login_back_channel_requests(
    sandbox: SandboxHandle, in_id_token: bool, back_channel: dict[str, int]
) -> None:
    """A warm login costs the token call, plus userinfo only when the ID token lacks rank."""
    demo = sandbox.state.clients[DEMO_CLIENT_ID]
    switched = replace(demo, always_include_user_claims_in_id_token=in_id_token)
    with sandbox_server(clients=(switched,)) as sb:
        client = oidc_client(sb)
        oidc_login(client)
        sb.reset_counts()
        url = client.start_login(browser_token=BROWSER).url
        answer = pick_crew(requests.Session(), url, MASTER)
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        params = {k: v[0] for k, v in query.items()}
        assert params["iss"] == sb.issuer  # RFC 9207, checked by rpkit
        result = client.finish_login(params, browser_token=BROWSER)
        counts = {k: v for k, v in sb.request_counts().items() if v}
    assert counts == {"authorize": 2, **back_channel}  # login page GET + card POST
    assert result.identity.rank == "Master" and result.identity.email
    assert ("rank" in result.id_token.claims) is in_id_token


def test_sandbox_key_rotation_costs_rpkit_one_jwks_fetch(sandbox: SandboxHandle) -> None:
    client = oidc_client(sandbox)
    oidc_login(client)
    sandbox.rotate_keys(grace_seconds=0)
    sandbox.reset_counts()
    oidc_login(client)
    assert sandbox.request_counts()["jwks"] == 1


def test_token_signed_with_unpublished_key_is_refused(sandbox: SandboxHandle) -> None:
    client = oidc_client(sandbox)
    oidc_login(client)
    sandbox.rotate_keys(grace_seconds=0, publish=False)
    with pytest.raises(IdTokenError) as exc:
        oidc_login(client)
    assert exc.value.reason == "unknown_kid"


def test_missing_rank_claim_is_refused(sandbox: SandboxHandle) -> None:
    """No rank in the ID token nor in userinfo: refused, naming both places."""
    sandbox.set_next_token_claims({"rank": None})
    sandbox.set_next_token_claims({"rank": None}, token="userinfo")
    with pytest.raises(IdTokenError) as exc:
        oidc_login(oidc_client(sandbox))
    assert exc.value.reason == "rank"
    assert "the ID token or in userinfo" in str(exc.value)


def test_rank_only_in_userinfo_is_enough(sandbox: SandboxHandle) -> None:
    """Rank missing from the ID token is read from userinfo (sub-checked)."""
    sandbox.set_next_token_claims({"rank": None})
    client = oidc_client(sandbox)
    url = client.start_login(browser_token=BROWSER).url
    answer = pick_crew(requests.Session(), url, MASTER)
    params = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
    result = client.finish_login(params, browser_token=BROWSER)
    assert "rank" not in result.id_token.claims
    assert result.identity.rank == "Master"


def saml_sp(sandbox: SandboxHandle) -> ServiceProvider:
    return ServiceProvider(
        SamlConfig(
            sp_entity_id=f"{APP}/auth/saml/metadata",
            acs_url=f"{APP}/auth/saml/acs",
            logout_url=f"{APP}/auth/saml/slo",
            sp_key_file=str(ROOT / "certs" / "demo-sp.key"),
            sp_cert_file=str(ROOT / "certs" / "demo-sp.crt"),
            idp_entity_id=sandbox.issuer,
            idp_metadata_url=sandbox.urls["saml_metadata"],
        )
    )


def auto_post_form(html: str) -> dict[str, str]:
    fields = re.findall(r'name="([^"]+)" value="([^"]*)"', html)
    return {unescape(k): unescape(v) for k, v in fields}


@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_saml_login_against_sandbox_idp(sandbox: SandboxHandle, binding: str) -> None:
    sp = saml_sp(sandbox)
    login = sp.start_login(return_to="/profile", binding=binding)  # type: ignore[arg-type]
    http = requests.Session()
    if binding == "redirect":
        assert login.message.url is not None
        answer = pick_crew(http, login.message.url, MASTER)
    else:
        page = http.post(login.message.form_action, data=dict(login.message.form), timeout=10)
        answer = click_card(http, page, MASTER)
    assert answer.status_code == 200, answer.text[:300]
    form = auto_post_form(answer.text)
    identity, return_to = sp.complete_login(
        form["SAMLResponse"], form.get("RelayState"), browser_token=login.cookie.value
    )
    assert identity.protocol == "saml"
    assert identity.rank == "Master"
    assert identity.ship_name
    assert return_to == "/profile"


def test_saml_login_survives_an_idp_certificate_rotation(sandbox: SandboxHandle) -> None:
    """After the sandbox rotates its SAML certificate, rpkit refetches metadata and signs in."""
    sp = saml_sp(sandbox)

    def login() -> str | None:
        start = sp.start_login(return_to="/profile")
        assert start.message.url is not None
        answer = pick_crew(requests.Session(), start.message.url, MASTER)
        form = auto_post_form(answer.text)
        identity, _ = sp.complete_login(
            form["SAMLResponse"], form.get("RelayState"), browser_token=start.cookie.value
        )
        return identity.rank

    assert login() == "Master"
    sandbox.rotate_saml_cert(grace_seconds=0)
    assert login() == "Master"
    assert sandbox.request_counts().get("saml_metadata") == 2
