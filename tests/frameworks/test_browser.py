"""Both logins, the rank gate and the error pages in real headless Chromium, on every
framework's sample app (the Flask one has its own, longer E2E in tests/flask)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.flask.helpers import INGRID, JONAS, TOMAS
from tests.flask.test_browser import ARGS, CHROMIUM, shot

from .conftest import Stack


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


def test_oidc_login_profile_logout(stack: Stack, page: Page) -> None:
    page.goto(stack.base_url + "/")
    page.get_by_test_id("login-oidc").click()
    page.get_by_test_id(f"crew-card-{INGRID}").click()
    expect(page.get_by_test_id("profile-rank")).to_contain_text("Master")
    expect(page.get_by_test_id("profile-ship")).to_contain_text("MV Nordic Aurora")
    expect(page.get_by_test_id("profile-protocol")).to_have_text("OIDC")
    assert page.url == stack.base_url + "/profile"
    shot(page, f"{stack.framework}-profile-oidc")
    page.get_by_test_id("bridge-link").click()
    expect(page.get_by_test_id("bridge-title")).to_be_visible()
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-oidc")).to_be_visible()
    assert page.url == stack.base_url + "/"
    assert page.request.get(stack.base_url + "/me").status == 401


def test_saml_login_profile_logout(stack: Stack, page: Page) -> None:
    page.goto(stack.base_url + "/")
    page.get_by_test_id("login-saml").click()
    page.get_by_test_id(f"crew-card-{TOMAS}").click()
    expect(page.get_by_test_id("profile-rank")).to_contain_text("Chief Officer")
    expect(page.get_by_test_id("profile-protocol")).to_have_text("SAML")
    shot(page, f"{stack.framework}-profile-saml")
    page.goto(stack.base_url + "/bridge")
    expect(page.get_by_test_id("bridge-title")).to_be_visible()
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-saml")).to_be_visible()
    assert page.url == stack.base_url + "/"
    assert page.request.get(stack.base_url + "/me").status == 401


def test_ab_refused_on_bridge(stack: Stack, page: Page) -> None:
    page.goto(stack.base_url + "/bridge")
    page.get_by_test_id("login-oidc").click()
    page.get_by_test_id(f"crew-card-{JONAS}").click()
    expect(page.get_by_test_id("error-title")).to_have_text("Not for your rank")
    expect(page.get_by_test_id("correlation-id")).not_to_be_empty()
    assert page.url == stack.base_url + "/bridge"
    shot(page, f"{stack.framework}-bridge-refused")


@pytest.mark.parametrize("protocol", ["oidc", "saml"])
def test_sandbox_deny_shows_error_page(stack: Stack, page: Page, protocol: str) -> None:
    page.goto(stack.base_url + "/")
    page.get_by_test_id(f"login-{protocol}").click()
    page.get_by_test_id("deny").click()
    expect(page.get_by_test_id("error-title")).to_have_text("Sign-in was refused")
    assert page.request.get(stack.base_url + "/me").status == 401
