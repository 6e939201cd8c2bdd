"""End to end in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Screenshots of the key pages go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .conftest import Stack
from .helpers import INGRID, JONAS, ROOT, TOMAS

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = ROOT / "artifacts" / "screenshots"

# A missing browser is a broken machine, not a reason to pass: scripts/bootstrap installs it.
assert os.path.exists(CHROMIUM), "Debian chromium is missing: run scripts/bootstrap"


# Module scope, as in tests/frameworks/test_browser.py: Playwright's sync API allows one
# instance per thread, so a browser kept for the whole session would make the other file's
# fail ("Sync API inside the asyncio loop") when both land on one xdist worker.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _pick(page: Page, user: str) -> None:
    page.get_by_test_id(f"crew-card-{user}").click()


def _sign_out(page: Page) -> None:
    page.get_by_test_id("logout").click()


def test_oidc_login_profile_logout(stack: Stack, page: Page) -> None:
    """OIDC against Duende's defaults (rank only in userinfo, RFC 9207 iss, PKCE, no
    back-channel URI): profile with rank and ship; logout ends the Dualog session too."""
    stack.sandbox.reset_counts()
    before = set(stack.sandbox.state.sessions)
    page.goto(stack.base_url + "/")
    shot(page, "01-home-signed-out")
    page.get_by_test_id("login-oidc").click()
    expect(page.get_by_test_id("crew-cards")).to_be_visible()
    shot(page, "02-sandbox-login-oidc")
    _pick(page, INGRID)
    expect(page.get_by_test_id("profile-rank")).to_contain_text("Master")
    expect(page.get_by_test_id("profile-ship")).to_contain_text("MV Nordic Aurora")
    expect(page.get_by_test_id("profile-protocol")).to_have_text("OIDC")
    assert page.url == stack.base_url + "/profile"
    counts = stack.sandbox.request_counts()
    assert counts["token"] == 1 and counts["userinfo"] == 1  # rank came from userinfo
    [idp_session] = [k for k in stack.sandbox.state.sessions if k not in before]
    assert stack.sandbox.state.sessions[idp_session].user_id == "87234"
    shot(page, "03-profile-oidc")
    page.get_by_test_id("bridge-link").click()
    expect(page.get_by_test_id("bridge-title")).to_be_visible()
    _sign_out(page)
    expect(page.get_by_test_id("login-oidc")).to_be_visible()
    assert page.url == stack.base_url + "/"
    shot(page, "04-signed-out-oidc")
    me = page.request.get(stack.base_url + "/me")
    assert me.status == 401
    # The end-session request carried the ID token hint, so Dualog ended its session and
    # sent the browser back; no back-channel call was needed.
    assert stack.sandbox.request_counts()["endsession"] == 1
    assert idp_session not in stack.sandbox.state.sessions


def test_saml_login_profile_logout(stack: Stack, page: Page) -> None:
    """SAML: sandbox login, profile with rank and ship, bridge for a C/O, single logout."""
    page.goto(stack.base_url + "/")
    page.get_by_test_id("login-saml").click()
    expect(page.get_by_test_id("crew-cards")).to_be_visible()
    shot(page, "05-sandbox-login-saml")
    _pick(page, TOMAS)
    expect(page.get_by_test_id("profile-rank")).to_contain_text("Chief Officer")
    expect(page.get_by_test_id("profile-ship")).to_contain_text("MV Nordic Aurora")
    expect(page.get_by_test_id("profile-protocol")).to_have_text("SAML")
    shot(page, "06-profile-saml")
    page.goto(stack.base_url + "/bridge")
    expect(page.get_by_test_id("bridge-title")).to_be_visible()
    shot(page, "07-bridge-chief-officer")
    _sign_out(page)
    expect(page.get_by_test_id("login-saml")).to_be_visible()
    assert page.url == stack.base_url + "/"
    shot(page, "08-signed-out-saml")
    assert page.request.get(stack.base_url + "/me").status == 401


def test_ab_refused_on_bridge(stack: Stack, page: Page) -> None:
    """An AB signs in but the deck officers' page answers a friendly 403."""
    page.goto(stack.base_url + "/bridge")
    page.get_by_test_id("login-oidc").click()
    _pick(page, JONAS)
    expect(page.get_by_test_id("error-title")).to_have_text("Not for your rank")
    expect(page.get_by_test_id("correlation-id")).not_to_be_empty()
    assert page.url == stack.base_url + "/bridge"
    shot(page, "09-bridge-refused-ab")


@pytest.mark.parametrize("protocol", ["oidc", "saml"])
def test_sandbox_deny_shows_error_page(stack: Stack, page: Page, protocol: str) -> None:
    """Pressing Deny at the sandbox lands on the app's friendly error page; no session."""
    page.goto(stack.base_url + "/")
    page.get_by_test_id(f"login-{protocol}").click()
    page.get_by_test_id("deny").click()
    expect(page.get_by_test_id("error-title")).to_have_text("Sign-in was refused")
    expect(page.get_by_test_id("correlation-id")).not_to_be_empty()
    shot(page, f"10-deny-{protocol}")
    assert page.request.get(stack.base_url + "/me").status == 401


def test_saml_post_binding_auto_submits(stack: Stack, page: Page) -> None:
    """RPKIT_SAML_AUTHN_BINDING=post: the browser auto-submits the signed AuthnRequest form."""
    import requests

    from example_app import create_app

    from .helpers import AppServer, app_config

    server = AppServer()
    config = app_config(server.base_url, stack.sandbox, oidc=False)
    config["RPKIT_SAML_AUTHN_BINDING"] = "post"
    server.start(create_app(config))
    try:
        metadata = requests.get(f"{server.base_url}/auth/saml/metadata", timeout=10).text
        stack.sandbox.register_sp(metadata)  # RSK defaults: signed requests, claim URIs
        page.goto(server.base_url + "/auth/login/saml?next=/profile")
        expect(page.get_by_test_id("crew-cards")).to_be_visible()
        assert page.url == stack.sandbox.urls["saml_sso"]  # arrived by POST, not a redirect
        _pick(page, TOMAS)
        expect(page.get_by_test_id("profile-rank")).to_contain_text("Chief Officer")
        expect(page.get_by_test_id("profile-protocol")).to_have_text("SAML")
        shot(page, "11-profile-saml-post-binding")
    finally:
        server.stop()
