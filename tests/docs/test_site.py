"""The site's navigation: the quick starts a new user looks for are all there, and no page
is left out of the menu."""

from __future__ import annotations

from typing import Any

import yaml

from .snippets import ROOT, snippets

# The first hour of a new user (issue: docs site): one quick start per job.
QUICK_STARTS = {
    "quickstarts/oidc-web-app.md": "a cloud web app by OpenID Connect",
    "quickstarts/saml-app.md": "a SAML app",
    "quickstarts/ship-app.md": "a ship-side app with a private CA",
    "quickstarts/bearer-api.md": "protecting an API with bearer tokens",
    "quickstarts/crew-sync.md": "crew-roster sync",
    "quickstarts/sandbox.md": "the sandbox",
    "quickstarts/go-live.md": "going live with rpkit doctor",
}


def _pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _pages(value)]
    return []


def _nav() -> list[Any]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav: list[Any] = config["nav"]
    return nav


def test_every_quick_start_is_in_the_menu_and_runs() -> None:
    quick = next(item["Quick starts"] for item in _nav() if "Quick starts" in item)
    listed = _pages(quick)
    missing = [f"{topic} ({page})" for page, topic in QUICK_STARTS.items() if page not in listed]
    assert not missing, f"quick starts missing from the menu: {missing}"
    for page in QUICK_STARTS:
        blocks = snippets(ROOT / "docs" / page)
        assert blocks, f"{page} has no code to try"
        assert all(b.mark != "not-run" for b in blocks), f"{page}: a quick start block must run"


def test_every_page_is_in_the_menu() -> None:
    listed = set(_pages(_nav()))
    pages = {
        str(path.relative_to(ROOT / "docs"))
        for path in (ROOT / "docs").rglob("*.md")
        if "hooks" not in path.parts
    }
    assert not pages - listed, f"pages not in mkdocs.yml's nav: {sorted(pages - listed)}"
