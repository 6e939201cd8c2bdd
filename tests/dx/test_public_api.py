"""The public surface, locked: each package's ``__all__`` against a snapshot written here.

A name added to or removed from a package's ``__all__`` is an API change: make it on
purpose, in the snapshot below, in the same commit (as httpx's tests/test_exported_members.py
does). A new public package gets its snapshot and an API reference page; a package that is
not an API (a command's internals) is listed in ``NOT_AN_API`` with the reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path
from typing import Any

import griffe
import pytest

import rpkit

ROOT = Path(__file__).resolve().parents[2]
THIS_FILE = "tests/dx/test_public_api.py"

# Each package's __all__, as the names it exports (order free, one space between names).
SNAPSHOT: dict[str, list[str]] = {
    "rpkit": """
        DUALOG_CLOUD_ISSUER AuthenticationError AuthorizationDeniedError CallbackError
        ClientRejectedError ConfigurationError CrewIdentity HttpConfig IdTokenError
        InvalidGrantError MetadataError OidcConfig ProviderError ProviderResponseError
        ProviderUnavailableError RpkitError SamlResponseError StoreUnavailableError TokenError
        UnknownSettingError UserinfoError ValidationError
    """.split(),
    "rpkit.oidc": """
        AccessToken AuthorizationRequest BROWSER_COOKIE Discovery ExpectedAccessToken
        ExpectedIdToken IdToken JwksCache LoginResult
        LoginState LogoutToken OidcClient ProviderMetadata RefreshResult SigningKeys TokenSet
        end_session_url identity_from_claims parse_callback parse_jwks parse_provider_metadata
        start_login validate_access_token validate_frontchannel_logout validate_id_token
        validate_logout_return validate_logout_token
    """.split(),
    "rpkit.saml": """
        BROWSER_COOKIE DUALOG_SAML_METADATA_URL BrowserCookie IdpMetadata IdpMetadataSource
        LoginRequest LogoutRequest LogoutResult PendingLogout PendingRequest SamlConfig
        SamlSession ServiceProvider SignedMessage generate_sp_certificate load_idp_metadata
    """.split(),
    "rpkit.scim": """
        CREW_EXTENSION_URN DUALOG_SCIM_BASE_URL DUALOG_SCIM_TOKEN_URL CrewExtension Email Filter
        Group GroupMember GroupRef Meta PhoneNumber PlannedAction Roster RosterColumns RosterRow
        RowFailure ScimClient ScimConfig SyncOptions SyncPlan SyncReport User UserField
        ValidationWarning apply_plan is_valid_imo parse_roster plan_sync quote_filter_value
        read_roster sync_roster user_warnings validate_imo validate_user
    """.split(),
    "rpkit.oauth": """
        ClientConfig ClientCredentialsSource TokenSet exchange_code request_client_credentials
        request_refresh request_token
    """.split(),
    "rpkit.flask": """
        Rpkit RpkitState ServerSession SessionStore Settings bearer_required csrf_token
        current_access_token current_identity current_session error_response is_api_request
        login_required rank_required rpkit_state safe_next
    """.split(),
    "rpkit.starlette": """
        Rpkit RpkitAnswer current_identity is_api_request offload require_bearer require_login
        require_rank rpkit_of
    """.split(),
    "rpkit.django": """
        bearer_required current_access_token current_identity current_session error_response
        is_api_request login_required rank_required response_for_error rpkit_state
    """.split(),
    "rpkit.sandbox": """
        OidcClientConfig SamlServiceProviderConfig SandboxConfig SandboxServer env_block
        render_banner
    """.split(),
    "rpkit.testing": """
        DEMO_CLIENT_ID DEMO_CLIENT_SECRET DEMO_PASSWORD SCIM_CLIENT_ID SCIM_CLIENT_SECRET
        SCIM_READONLY_CLIENT_ID SCIM_READONLY_CLIENT_SECRET SandboxHandle sandbox_fixture
        sandbox_server
    """.split(),
    "rpkit.ranks": """
        DEFAULT_RANKS DEPARTMENTS Rank RankVocabulary normalize_rank
    """.split(),
    "rpkit.reasons": """
        REASONS Reason explain
    """.split(),
}

# Packages under rpkit/ whose names are not an API, and why.
NOT_AN_API: dict[str, str] = {
    "rpkit.doctor": "the `rpkit doctor` command: its checks are read through the CLI (ids, "
    "--json), not imported",
    "rpkit.web": "the framework-neutral layer under the adapters: its names reach apps through "
    "rpkit.flask, rpkit.starlette and rpkit.django (its own __all__ is empty)",
}


def _reference_pages() -> dict[str, Path]:
    """Package -> the docs/reference page that renders it with mkdocstrings (``::: name``)."""
    pages = {}
    for page in sorted((ROOT / "docs" / "reference").glob("*.md")):
        for match in re.finditer(r"^::: ([\w.]+)$", page.read_text(encoding="utf-8"), re.M):
            pages[match.group(1)] = page
    return pages


@pytest.fixture(scope="module")
def package_tree() -> Any:
    """rpkit as mkdocstrings sees it: read statically by griffe, with aliases resolved."""
    loader = griffe.GriffeLoader(search_paths=[str(ROOT)])
    tree = loader.load("rpkit")
    loader.resolve_aliases(external=False)
    return tree


def test_every_public_package_has_a_snapshot() -> None:
    """Each package under rpkit/ is either locked here or named as not an API."""
    found = {
        f"rpkit.{info.name}"
        for info in pkgutil.iter_modules(rpkit.__path__)
        if info.ispkg and not info.name.startswith("_")
    }
    unknown = sorted(found - set(SNAPSHOT) - set(NOT_AN_API))
    assert not unknown, (
        f"new package(s) {unknown}: add SNAPSHOT[<name>] = <its __all__> to {THIS_FILE} and a "
        "docs/reference/<name>.md page (::: <name>, members: true) to mkdocs.yml's nav, "
        "or add it to NOT_AN_API there with the reason"
    )
    gone = sorted(p for p in (*SNAPSHOT, *NOT_AN_API) if importlib.util.find_spec(p) is None)
    assert not gone, f"package(s) {gone} no longer exist: remove them from {THIS_FILE}"


@pytest.mark.parametrize("package", sorted(SNAPSHOT))
def test_all_matches_the_snapshot(package: str) -> None:
    """``__all__`` is exactly the snapshot: nothing added or dropped by accident."""
    module = importlib.import_module(package)
    exported = list(getattr(module, "__all__", ()))
    doubled = sorted({n for n in exported if exported.count(n) > 1})
    assert not doubled, f"{package}.__all__ lists {doubled} more than once"
    added = sorted(set(exported) - set(SNAPSHOT[package]))
    dropped = sorted(set(SNAPSHOT[package]) - set(exported))
    assert not added and not dropped, (
        f"{package}.__all__ differs from SNAPSHOT[{package!r}] in {THIS_FILE}: "
        + (f"add {added} to the snapshot; " if added else "")
        + (f"remove {dropped} from the snapshot; " if dropped else "")
        + "(and say so in CHANGELOG.md: the public API changed)"
    )


@pytest.mark.parametrize("package", sorted(SNAPSHOT))
def test_every_exported_name_exists_and_is_documented(package: str, package_tree: Any) -> None:
    """Every name in ``__all__`` imports, and the API reference renders it with a docstring."""
    module = importlib.import_module(package)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names {missing}, which {package} does not define"
    page = _reference_pages().get(package)
    assert page is not None, (
        f"no docs/reference page renders {package}: add docs/reference/"
        f"{package.removeprefix('rpkit.')}.md with '::: {package}' (members: true) to mkdocs.yml"
    )
    node = package_tree if package == "rpkit" else package_tree[package.removeprefix("rpkit.")]
    undocumented = []
    for name in module.__all__:
        member = node[name]
        target = member.final_target if member.is_alias else member
        if not target.docstring or not target.docstring.value.strip():
            undocumented.append(f"{target.path} ({target.kind.value})")
    assert not undocumented, (
        f"{package} exports names the API reference shows without a word: {undocumented}; "
        "give each a docstring (a constant: a string literal on the line after it)"
    )
