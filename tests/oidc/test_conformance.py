"""OpenID Foundation style RP conformance: a hostile provider on loopback, one test per RP test id.

Each case reproduces one test of the OpenID Foundation's relying-party suite (ids from the
"old" RP test suite, which the current conformance suite's summaries still cite; refresh
tests, which exist only in the current suite, use its ``oidcc-client-test-*`` ids) and
asserts the expected accept, or the reject with its exception type and ``reason``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, OctKey, RSAKey

from rpkit.config import OidcConfig
from rpkit.errors import (
    AuthenticationError,
    AuthorizationDeniedError,
    CallbackError,
    ConfigurationError,
    IdTokenError,
    MetadataError,
    ProviderResponseError,
    TokenError,
    UserinfoError,
)
from rpkit.oidc import LoginResult, OidcClient, validate_logout_return
from rpkit.oidc.authorize import ResponseMode

from .conftest import BROWSER, Clock, follow_authorize, follow_end_session, login, make_client
from .fake_op import CLIENT_ID, CLIENT_SECRET, JWKS_PATH, FakeOP, new_rsa_key

# -- Basic RP ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Basic:
    """One Basic RP test: how the provider misbehaves and what the RP must do."""

    id: str
    arrange: Callable[[FakeOP], None]
    error: type[AuthenticationError] | None = None
    reason: str | None = None
    fetch_userinfo: bool | None = None
    check: Callable[[FakeOP, LoginResult], None] | None = None


def _nothing(op: FakeOP) -> None:
    pass


def _claims(**claims: Any) -> Callable[[FakeOP], None]:
    def arrange(op: FakeOP) -> None:
        op.id_token_claims.update(claims)

    return arrange


def _kid_absent_single(op: FakeOP) -> None:
    op.keys = [new_rsa_key(None)]


def _kid_absent_multiple(op: FakeOP) -> None:
    op.keys = [new_rsa_key(None), new_rsa_key(None)]


def _alg_none(op: FakeOP) -> None:
    op.alg = "none"
    assert "none" in op.discovery()["id_token_signing_alg_values_supported"]


def _bad_signature(op: FakeOP) -> None:
    # Same kid as the published key, different key material.
    op.sign_with = new_rsa_key(op.keys[0].kid)


def _userinfo(**claims: Any) -> Callable[[FakeOP], None]:
    def arrange(op: FakeOP) -> None:
        op.userinfo_claims.update(claims)

    return arrange


def _check_code_flow(op: FakeOP, result: LoginResult) -> None:
    request = op.authorize_requests[-1]
    assert request["response_type"] == "code"
    assert request["code_challenge_method"] == "S256"
    assert result.identity.key == (op.issuer, op.sub)


def _check_no_kid(op: FakeOP, result: LoginResult) -> None:
    assert "kid" not in result.id_token.header
    assert result.identity.subject == op.sub


def _check_rs256(op: FakeOP, result: LoginResult) -> None:
    assert result.id_token.header["alg"] == "RS256"
    assert result.identity.rank == "Chief Officer"


def _claims_only_in_userinfo(**userinfo: Any) -> Callable[[FakeOP], None]:
    def arrange(op: FakeOP) -> None:
        op.user_claims_in_id_token = False
        op.userinfo_claims.update(userinfo)

    return arrange


def _check_userinfo_claims(op: FakeOP, result: LoginResult) -> None:
    # The OIDF test: claims released only through userinfo. The RP must fetch it
    # unasked, because the ID token lacks what the login needs.
    assert op.authorize_requests[-1]["scope"].split() == [
        "openid",
        "profile",
        "email",
        "crew.public",
    ]
    assert "rank" not in result.id_token.claims and "email" not in result.id_token.claims
    assert result.userinfo is not None
    identity = result.identity
    assert (identity.rank, identity.email, identity.name) == (
        "Chief Officer",
        "ingrid.hansen@nordic-tankers.example",
        "Ingrid Hansen",
    )
    assert identity.claims["phone_number"] == "+47 900 00 000"
    assert len(op.userinfo_requests) == 1
    request = op.userinfo_requests[-1]
    assert request["auth"] == f"Bearer {result.tokens.access_token}"
    assert not request["query"] and not request["body"]


def _check_id_token_wins(op: FakeOP, result: LoginResult) -> None:
    assert result.userinfo is not None
    assert result.userinfo["name"] == "Someone Else"
    # Signed ID token claims win over userinfo; userinfo adds what the ID token lacks.
    assert result.identity.name == "Ingrid Hansen"
    assert result.identity.claims["phone_number"] == "+47 900 00 000"


def _check_client_secret_basic(op: FakeOP, result: LoginResult) -> None:
    sent = op.token_requests[-1]
    assert sent["auth"].startswith("Basic ")
    user, _, password = base64.b64decode(sent["auth"][6:]).decode().partition(":")
    assert (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, CLIENT_SECRET)
    assert "client_secret" not in sent["form"]
    assert CLIENT_SECRET not in str(sent["form"])


BASIC_RP = [
    Basic("rp-response_type-code", _nothing, check=_check_code_flow),
    Basic(
        "rp-id_token-issuer-mismatch",
        _claims(iss="https://crew.dualog.com.evil.example/auth"),
        IdTokenError,
        "issuer",
    ),
    Basic("rp-id_token-sub", _claims(sub=None), IdTokenError, "sub"),
    Basic("rp-id_token-aud", _claims(aud="another-client"), IdTokenError, "audience"),
    Basic("rp-id_token-iat", _claims(iat=None), IdTokenError, "iat"),
    Basic("rp-id_token-kid-absent-single-jwks", _kid_absent_single, check=_check_no_kid),
    Basic(
        "rp-id_token-kid-absent-multiple-jwks", _kid_absent_multiple, IdTokenError, "kid_ambiguous"
    ),
    Basic("rp-id_token-sig-rs256", _nothing, check=_check_rs256),
    Basic("rp-id_token-sig-none", _alg_none, IdTokenError, "alg"),
    Basic("rp-id_token-bad-sig-rs256", _bad_signature, IdTokenError, "signature"),
    Basic(
        "rp-userinfo-bad-sub-claim",
        _claims_only_in_userinfo(sub="crew-6666"),
        UserinfoError,
        "sub_mismatch",
    ),
    Basic(
        "rp-userinfo-bad-sub-claim (userinfo asked for)",
        _userinfo(sub="crew-6666"),
        UserinfoError,
        "sub_mismatch",
        fetch_userinfo=True,
    ),
    Basic("rp-nonce-invalid", _claims(nonce="forged-nonce"), IdTokenError, "nonce"),
    Basic(
        "rp-scope-userinfo-claims",
        _claims_only_in_userinfo(phone_number="+47 900 00 000"),
        check=_check_userinfo_claims,
    ),
    Basic(
        "rp-scope-userinfo-claims (ID token wins)",
        _userinfo(phone_number="+47 900 00 000", name="Someone Else"),
        fetch_userinfo=True,
        check=_check_id_token_wins,
    ),
    Basic("rp-token_endpoint-client_secret_basic", _nothing, check=_check_client_secret_basic),
]


def _run_basic(op: FakeOP, case: Basic, response_mode: ResponseMode) -> None:
    case.arrange(op)
    client = make_client(op)
    url = client.start_login(response_mode=response_mode, browser_token=BROWSER).url
    params = follow_authorize(url)
    assert op.authorize_requests[-1].get("response_mode") == (
        "form_post" if response_mode == "form_post" else None
    )
    if case.error is None:
        result = client.finish_login(
            params, fetch_userinfo=case.fetch_userinfo, browser_token=BROWSER
        )
        assert case.check is not None
        case.check(op, result)
        return
    with pytest.raises(case.error) as exc:
        client.finish_login(params, fetch_userinfo=case.fetch_userinfo, browser_token=BROWSER)
    assert type(exc.value) is case.error
    assert exc.value.reason == case.reason


@pytest.mark.parametrize("response_mode", ["query", "form_post"])
@pytest.mark.parametrize("case", BASIC_RP, ids=[c.id for c in BASIC_RP])
def test_basic_rp(op: FakeOP, case: Basic, response_mode: ResponseMode) -> None:
    """Basic RP, over query and over form_post: accept or reject with the expected reason."""
    _run_basic(op, case, response_mode)


@pytest.mark.parametrize("case", BASIC_RP, ids=[c.id for c in BASIC_RP])
def test_basic_rp_form_post_from_config(op: FakeOP, case: Basic) -> None:
    """The Basic RP set over form_post chosen by configuration (RPKIT_OIDC_RESPONSE_MODE)."""
    case.arrange(op)
    client = make_client(op, response_mode="form_post")
    url = client.start_login(browser_token=BROWSER).url
    params = follow_authorize(url)
    assert op.authorize_requests[-1]["response_mode"] == "form_post"
    if case.error is None:
        result = client.finish_login(
            params,
            fetch_userinfo=case.fetch_userinfo,
            received_via="form_post",
            browser_token=BROWSER,
        )
        assert case.check is not None
        case.check(op, result)
        return
    with pytest.raises(case.error) as exc:
        client.finish_login(
            params,
            fetch_userinfo=case.fetch_userinfo,
            received_via="form_post",
            browser_token=BROWSER,
        )
    assert exc.value.reason == case.reason


@pytest.mark.parametrize("response_mode", ["form_post"], ids=["rp-response_mode-form_post-error"])
def test_form_post_error(op: FakeOP, response_mode: str) -> None:
    """An error posted back by form_post surfaces as AuthorizationDeniedError with its text."""
    op.authorize_error = "login_required"
    op.authorize_error_description = "Error response using form_post"
    client = make_client(op)
    url = client.start_login(
        response_mode="form_post", prompt="none", max_age=0, browser_token=BROWSER
    ).url
    params = follow_authorize(url)
    with pytest.raises(AuthorizationDeniedError) as exc:
        client.finish_login(params, browser_token=BROWSER)
    assert exc.value.reason == "login_required"
    assert exc.value.error == "login_required"
    assert exc.value.error_description == "Error response using form_post"
    assert op.token_requests == []


# -- Config RP ----------------------------------------------------------------------------

CONFIG_RP: dict[str, Callable[[FakeOP], None]] = {}


def config_rp(test_id: str) -> Callable[[Callable[[FakeOP], None]], Callable[[FakeOP], None]]:
    def register(scenario: Callable[[FakeOP], None]) -> Callable[[FakeOP], None]:
        CONFIG_RP[test_id] = scenario
        return scenario

    return register


@config_rp("rp-discovery-openid-configuration")
def _discovery_openid_configuration(op: FakeOP) -> None:
    client = make_client(op)
    metadata = client.metadata()
    assert metadata.issuer == op.issuer
    assert metadata.token_endpoint == f"{op.issuer}/connect/token"
    assert metadata.end_session_endpoint == f"{op.issuer}/connect/endsession"
    login(client)
    assert op.counts["/auth/.well-known/openid-configuration"] == 1


@config_rp("rp-discovery-jwks_uri-keys")
def _discovery_jwks_uri_keys(op: FakeOP) -> None:
    # Keys come from the advertised jwks_uri, not from a guessed path.
    op.jwks_path = "/auth/keys/2026-11"
    result = login(make_client(op))
    assert result.identity.subject == op.sub
    assert op.counts["/auth/keys/2026-11"] == 1


@config_rp("rp-discovery-issuer-not-matching-config")
def _discovery_issuer_not_matching_config(op: FakeOP) -> None:
    op.discovery_overrides["issuer"] = "https://shipserver.local/auth"
    client = make_client(op)
    with pytest.raises(MetadataError) as exc:
        client.start_login(browser_token=BROWSER)
    message = str(exc.value)
    assert message.startswith(
        f"configured {op.issuer} but the server calls itself https://shipserver.local/auth: "
    )
    assert "set the ship host to shipserver.local (RPKIT_OIDC_SHIP_HOST=shipserver.local)" in (
        message
    )
    assert op.counts["/auth/connect/token"] == 0


@config_rp("rp-key-rotation-op-sign-key")
def _key_rotation(op: FakeOP) -> None:
    client = make_client(op)
    login(client)
    op.keys = [new_rsa_key("k2")]
    result = login(client)
    assert result.id_token.header["kid"] == "k2"
    assert op.counts[op.jwks_path] == 2


@config_rp("rp-key-rotation-op-sign-key-native")
def _key_rotation_native(op: FakeOP) -> None:
    op.keys = [new_rsa_key(None)]
    client = make_client(op)
    login(client)
    op.keys = [new_rsa_key(None)]  # the old key is gone; neither has a kid
    result = login(client)
    assert "kid" not in result.id_token.header
    assert op.counts[op.jwks_path] == 2


@pytest.mark.parametrize("scenario", list(CONFIG_RP.values()), ids=list(CONFIG_RP))
def test_config_rp(op: FakeOP, scenario: Callable[[FakeOP], None]) -> None:
    """Config RP: discovery and key rotation behave as the OpenID Foundation tests expect."""
    scenario(op)


# -- RP-initiated logout -------------------------------------------------------------------

LOGOUT_RP: dict[str, Callable[[FakeOP], None]] = {}


def logout_rp(test_id: str) -> Callable[[Callable[[FakeOP], None]], Callable[[FakeOP], None]]:
    def register(scenario: Callable[[FakeOP], None]) -> Callable[[FakeOP], None]:
        LOGOUT_RP[test_id] = scenario
        return scenario

    return register


def _logout_round_trip(op: FakeOP) -> tuple[dict[str, str], dict[str, str], str]:
    client = make_client(op)
    result = login(client)
    url = client.end_session_url(id_token_hint=result.tokens.id_token, state="logout-state-1")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    returned = follow_end_session(url)
    return query, returned, result.tokens.id_token or ""


@logout_rp("rp-init-logout")
def _init_logout(op: FakeOP) -> None:
    query, returned, id_token = _logout_round_trip(op)
    assert urlsplit(op.end_session_requests[-1]["post_logout_redirect_uri"]).port == 5999
    assert query == {
        "client_id": CLIENT_ID,
        "id_token_hint": id_token,
        "post_logout_redirect_uri": "http://127.0.0.1:5999/",
        "state": "logout-state-1",
    }
    assert returned == {"state": "logout-state-1"}
    validate_logout_return(returned, expected_state="logout-state-1")


@logout_rp("rp-init-logout-other-state")
def _init_logout_other_state(op: FakeOP) -> None:
    op.logout_state = "someone-elses-state"
    _, returned, _ = _logout_round_trip(op)
    with pytest.raises(CallbackError) as exc:
        validate_logout_return(returned, expected_state="logout-state-1")
    assert exc.value.reason == "state_mismatch"


@logout_rp("rp-init-logout-no-state")
def _init_logout_no_state(op: FakeOP) -> None:
    op.logout_drop_state = True
    _, returned, _ = _logout_round_trip(op)
    assert "state" not in returned
    # Tolerated: the local session is already gone and many providers drop state.
    validate_logout_return(returned, expected_state="logout-state-1")
    assert op.end_session_requests[-1]["state"] == "logout-state-1"


@pytest.mark.parametrize("scenario", list(LOGOUT_RP.values()), ids=list(LOGOUT_RP))
def test_rp_initiated_logout(op: FakeOP, scenario: Callable[[FakeOP], None]) -> None:
    """RP-initiated logout: the URL carries hint, redirect and state; the return is checked."""
    scenario(op)


# -- Back-channel logout -------------------------------------------------------------------


def _es256_with_a_published_key(op: FakeOP) -> dict[str, Any]:
    # The OIDF "wrong alg" test: the RP registered RS256, the OP signs with ES256 using a
    # key it really publishes, so only the RP's algorithm allowlist can catch it.
    ec_key = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, auto_kid=False)
    op.keys.append(ec_key)
    return {"_alg": "ES256", "_key": ec_key}


# (id, token overrides, reason or None to accept)
BACKCHANNEL: list[tuple[str, Callable[[FakeOP], dict[str, Any]], str | None]] = [
    ("rp-backchannel-rpinitlogout", lambda op: {}, None),
    ("rp-backchannel-rpinitlogout-lt-alg-none", lambda op: {"_alg": "none", "_key": None}, "alg"),
    ("rp-backchannel-rpinitlogout-lt-no-event", lambda op: {"events": None}, "events"),
    ("rp-backchannel-rpinitlogout-lt-with-nonce", lambda op: {"nonce": "n-0S6_WzA2Mj"}, "nonce"),
    ("rp-backchannel-rpinitlogout-lt-wrong-alg", _es256_with_a_published_key, "alg"),
    ("rp-backchannel-rpinitlogout-lt-wrong-aud", lambda op: {"aud": "another-client"}, "audience"),
    (
        "rp-backchannel-rpinitlogout-lt-wrong-event",
        lambda op: {"events": {"http://schemas.openid.net/event/other-logout": {}}},
        "events",
    ),
    (
        "rp-backchannel-rpinitlogout-lt-wrong-iss",
        lambda op: {"iss": "https://crew.dualog.com/auth"},
        "issuer",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [(o, r) for _, o, r in BACKCHANNEL],
    ids=[i for i, _, _ in BACKCHANNEL],
)
def test_backchannel_logout(
    op: FakeOP, overrides: Callable[[FakeOP], dict[str, Any]], reason: str | None
) -> None:
    """Back-channel logout tokens: a valid one names the session; each defect has its reason."""
    # As registered for the OIDF tests: id_token_signed_response_alg RS256.
    client = make_client(op, id_token_signing_algs=("RS256",))
    token = op.signed_logout_token(**overrides(op))
    if reason is None:
        result = client.validate_logout_token(token)
        assert (result.issuer, result.subject, result.session_id) == (op.issuer, op.sub, "sid-1")
        return
    with pytest.raises(TokenError) as exc:
        client.validate_logout_token(token)
    assert exc.value.reason == reason


def _unpublished_ec_key(op: FakeOP) -> Any:
    return ECKey.generate_key("P-256", parameters={"kid": "ec-unpublished"}, auto_kid=False)


@pytest.mark.parametrize(
    ("alg", "key", "reason"),
    [
        ("RS512", lambda op: op.keys[0], "alg"),
        ("HS256", lambda op: OctKey.import_key(CLIENT_SECRET), "alg"),
        ("ES256", _unpublished_ec_key, "unknown_kid"),
    ],
    ids=["rs512-not-in-allowlist", "hs256-keyed-by-client-secret", "es256-key-not-published"],
)
def test_logout_token_signed_with_a_wrong_alg_or_key_is_refused(
    op: FakeOP, alg: str, key: Callable[[FakeOP], Any], reason: str
) -> None:
    """With the default allowlist, a logout token signed outside it or by an unknown key fails."""
    op.discovery_overrides["id_token_signing_alg_values_supported"] = ["RS256", alg]
    token = op.signed_logout_token(_alg=alg, _key=key(op))
    with pytest.raises(TokenError) as exc:
        make_client(op).validate_logout_token(token)
    assert exc.value.reason == reason


def test_logout_token_in_an_alg_discovery_does_not_list_is_refused(op: FakeOP) -> None:
    """OIDF rp-backchannel-rpinitlogout-lt-wrong-alg with rpkit's default allowlist.

    ES256 is in the RP's allowlist and the OP publishes the EC key, but its discovery lists
    RS256 only: the accepted set is the intersection, so the token is refused as ``alg``.
    """
    assert op.discovery()["id_token_signing_alg_values_supported"] == ["RS256", "none"]
    token = op.signed_logout_token(**_es256_with_a_published_key(op))
    client = make_client(op)
    assert "ES256" in client.config.id_token_signing_algs
    with pytest.raises(TokenError) as exc:
        client.validate_logout_token(token)
    assert exc.value.reason == "alg"
    assert client.id_token_algorithms() == ("RS256",)


def test_id_token_in_an_alg_discovery_does_not_list_is_refused(op: FakeOP) -> None:
    """An ES256 ID token (key published) fails as ``alg`` when discovery lists RS256 only."""
    ec_key = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, auto_kid=False)
    op.keys.append(ec_key)
    op.sign_with, op.alg = ec_key, "ES256"
    with pytest.raises(IdTokenError) as exc:
        login(make_client(op))
    assert exc.value.reason == "alg"
    op.discovery_overrides["id_token_signing_alg_values_supported"] = ["RS256", "ES256"]
    assert login(make_client(op)).id_token.header["alg"] == "ES256"


def _weak_rsa_key(kid: str) -> RSAKey:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns about the weak key it is asked for
        return RSAKey.generate_key(1024, parameters={"kid": kid}, auto_kid=False)


def test_login_signed_by_a_1024_bit_key_is_refused_as_weak_key() -> None:
    """The OP publishes and signs with a 1024-bit RSA key: the login fails as ``weak_key``."""
    op = FakeOP(keys=[_weak_rsa_key("legacy-1024")]).start()
    try:
        with pytest.raises(IdTokenError) as exc:
            login(make_client(op))
        assert exc.value.reason == "weak_key"
        assert "legacy-1024" in exc.value.message and "1024 bits" in exc.value.message
        assert op.counts[JWKS_PATH] == 1  # a weak key is not an unknown key: no refetch
        with pytest.raises(TokenError) as logout:
            make_client(op).validate_logout_token(op.signed_logout_token())
        assert logout.value.reason == "weak_key"
    finally:
        op.stop()


def test_discovery_without_an_alg_rpkit_allows_is_a_metadata_error(op: FakeOP) -> None:
    """No overlap between discovery's algorithms and the allowlist names the setting."""
    op.discovery_overrides["id_token_signing_alg_values_supported"] = ["RS512"]
    with pytest.raises(MetadataError) as exc:
        make_client(op).id_token_algorithms()
    assert "RPKIT_OIDC_ID_TOKEN_SIGNING_ALGS" in exc.value.message


def test_logout_token_jti_replay_is_refused(op: FakeOP) -> None:
    """The same logout token (same jti) is accepted once, then refused as a replay."""
    client = make_client(op)
    token = op.signed_logout_token()
    client.validate_logout_token(token)
    with pytest.raises(TokenError) as exc:
        client.validate_logout_token(token)
    assert exc.value.reason == "replay"


# -- Refresh -------------------------------------------------------------------------------

REFRESH: list[tuple[str, dict[str, Any], str | None]] = [
    ("oidcc-client-test-refresh-token", {}, None),
    (
        "oidcc-client-test-refresh-token-invalid-issuer",
        {"iss": "https://evil.example/auth"},
        "issuer",
    ),
    ("oidcc-client-test-refresh-token-invalid-sub", {"sub": "crew-6666"}, "sub"),
]


@pytest.mark.parametrize(
    ("claims", "reason"), [(c, r) for _, c, r in REFRESH], ids=[i for i, _, _ in REFRESH]
)
def test_refresh(op: FakeOP, claims: dict[str, Any], reason: str | None) -> None:
    """The refreshed ID token is re-validated: iss and sub must not change (OIDC Core §12.2)."""
    client = make_client(op)
    first = login(client)
    assert first.tokens.refresh_token is not None
    op.refresh_claims.update(claims)
    if reason is None:
        refreshed = client.refresh(first.tokens.refresh_token, previous=first.id_token)
        assert refreshed.tokens.access_token != first.tokens.access_token
        assert refreshed.tokens.refresh_token != first.tokens.refresh_token
        assert refreshed.identity.key == first.identity.key
        assert op.token_requests[-1]["form"]["grant_type"] == "refresh_token"
        return
    with pytest.raises(IdTokenError) as exc:
        client.refresh(first.tokens.refresh_token, previous=first.id_token)
    assert exc.value.reason == reason


def test_concurrent_refreshes_of_one_refresh_token_share_one_request(op: FakeOP) -> None:
    """Two threads refreshing the same refresh token cause exactly one token request."""
    client = make_client(op)
    first = login(client)
    refresh_token = first.tokens.refresh_token
    assert refresh_token is not None
    entered, release = threading.Event(), threading.Event()

    def hold(form: dict[str, Any]) -> None:
        if form.get("grant_type") == "refresh_token":
            entered.set()
            release.wait(5)

    op.token_hook = hold
    before = op.counts["/auth/connect/token"]
    start = threading.Barrier(2)
    results: list[Any] = []

    def refresh() -> None:
        start.wait(5)
        results.append(client.refresh(refresh_token, previous=first.id_token))

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert entered.wait(5)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(results) == 2
    assert results[0].tokens.access_token == results[1].tokens.access_token
    assert op.counts["/auth/connect/token"] - before == 1


# -- Token endpoint authentication ----------------------------------------------------------


@pytest.mark.parametrize(
    "method", ["client_secret_post"], ids=["rp-token_endpoint-client_secret_post"]
)
def test_client_secret_post(op: FakeOP, method: str) -> None:
    """client_secret_post sends id and secret in the body and no Authorization header."""
    login(make_client(op, token_endpoint_auth_method=method))
    sent = op.token_requests[-1]
    assert sent["auth"] is None
    assert sent["form"]["client_id"] == CLIENT_ID
    assert sent["form"]["client_secret"] == CLIENT_SECRET


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_secret_with_reserved_characters(op: FakeOP, method: str) -> None:
    """A secret with ``+ / : % =`` or non-ASCII reaches the provider intact (RFC 6749 §2.3.1)."""
    op.client_secret = "s3cr+t/with:colon%20and=sign-ø"
    result = login(
        make_client(op, client_secret=op.client_secret, token_endpoint_auth_method=method)
    )
    assert result.identity.subject == op.sub
    sent = op.token_requests[-1]
    if method == "client_secret_basic":
        credentials = base64.b64decode(sent["auth"][6:]).decode("ascii")
        assert credentials == "test-client:s3cr%2Bt%2Fwith%3Acolon%2520and%3Dsign-%C3%B8"


@pytest.mark.parametrize("method", ["private_key_jwt"], ids=["rp-token_endpoint-private_key_jwt"])
def test_private_key_jwt(op: FakeOP, method: str) -> None:
    """private_key_jwt sends a client assertion signed by the client's key (RFC 7523 §2.2)."""
    client_key = RSAKey.generate_key(2048, auto_kid=False)
    pem = client_key.as_pem(private=True).decode()
    public = RSAKey.import_key(client_key.as_dict(private=False))
    client = make_client(
        op,
        token_endpoint_auth_method=method,
        client_secret=None,
        client_private_key=pem,
        client_private_key_id="rp-key-1",
    )
    login(client)
    sent = op.token_requests[-1]
    form = sent["form"]
    assert sent["auth"] is None
    assert "client_secret" not in form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assertion = jwt.decode(form["client_assertion"], public, algorithms=["RS256"])
    assert assertion.header["kid"] == "rp-key-1"
    claims = assertion.claims
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == f"{op.issuer}/connect/token"
    assert claims["exp"] > time.time()
    assert claims["jti"]
    with pytest.raises(BadSignatureError):
        jwt.decode(form["client_assertion"], new_rsa_key("other"), algorithms=["RS256"])


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (lambda: RSAKey.generate_key(2048, parameters={"kid": "rp-rsa"}, auto_kid=False), "RS256"),
        (lambda: ECKey.generate_key("P-256", parameters={"kid": "rp-ec"}, auto_kid=False), "ES256"),
    ],
    ids=["rsa-jwk", "ec-jwk"],
)
def test_private_key_jwt_with_a_jwk_json_key(
    op: FakeOP, key: Callable[[], RSAKey | ECKey], alg: str
) -> None:
    """A private JWK (JSON) works too; its kid names the key and its type picks the alg."""
    client_key = key()
    client = make_client(
        op,
        token_endpoint_auth_method="private_key_jwt",
        client_secret=None,
        client_private_key=json.dumps(client_key.as_dict(private=True)),
    )
    login(client)
    public = type(client_key).import_key(client_key.as_dict(private=False))
    assertion = jwt.decode(
        op.token_requests[-1]["form"]["client_assertion"], public, algorithms=[alg]
    )
    assert (assertion.header["alg"], assertion.header["kid"]) == (alg, client_key.kid)
    assert assertion.claims["sub"] == CLIENT_ID


@pytest.mark.parametrize(
    "value",
    ["not a key", '{"kty": "RSA"}', "{not json", "__public__"],
    ids=["garbage", "incomplete-jwk", "bad-json", "public-key-only"],
)
def test_unusable_client_private_key_fails_at_startup(value: str) -> None:
    """A private_key_jwt key that cannot sign is a ConfigurationError when configured."""
    if value == "__public__":
        value = new_rsa_key("k").as_pem(private=False).decode()
    with pytest.raises(ConfigurationError):
        OidcConfig(
            issuer="https://crew.dualog.com/auth",
            client_id=CLIENT_ID,
            token_endpoint_auth_method="private_key_jwt",
            client_private_key=value,
        )


# -- Authorization response ----------------------------------------------------------------


def _callback(client: OidcClient, **start: Any) -> tuple[dict[str, str], Any]:
    started = client.start_login(**start, browser_token=BROWSER)
    url, state = started.url, started.login
    return follow_authorize(url), state


def test_callback_iss_of_another_provider_is_refused(op: FakeOP) -> None:
    """RFC 9207: an ``iss`` naming another provider is a mix-up attack and is refused."""
    op.callback_extra["iss"] = "https://crew.dualog.com/auth"
    client = make_client(op)
    params, _ = _callback(client)
    with pytest.raises(CallbackError) as exc:
        client.finish_login(params, browser_token=BROWSER)
    assert exc.value.reason == "iss_mismatch"
    assert op.token_requests == []


def test_callback_without_iss_is_refused_when_the_provider_promises_it(op: FakeOP) -> None:
    """RFC 9207 §2.4: with authorization_response_iss_parameter_supported, iss is required."""
    op.discovery_overrides["authorization_response_iss_parameter_supported"] = True
    client = make_client(op)
    params, _ = _callback(client)
    with pytest.raises(CallbackError) as exc:
        client.finish_login(params, browser_token=BROWSER)
    assert exc.value.reason == "iss_missing"


def test_callback_with_the_right_iss_is_accepted(op: FakeOP) -> None:
    """RFC 9207: the provider's own ``iss`` in the callback passes."""
    op.discovery_overrides["authorization_response_iss_parameter_supported"] = True
    op.callback_iss = True
    client = make_client(op)
    params, _ = _callback(client)
    assert params["iss"] == op.issuer
    assert client.finish_login(params, browser_token=BROWSER).identity.subject == op.sub


def test_error_response_is_surfaced_with_its_description(op: FakeOP) -> None:
    """``error=`` in the callback raises AuthorizationDeniedError carrying error and text."""
    op.authorize_error = "access_denied"
    client = make_client(op)
    params, _ = _callback(client)
    with pytest.raises(AuthorizationDeniedError) as exc:
        client.finish_login(params, browser_token=BROWSER)
    assert exc.value.reason == "access_denied"
    assert exc.value.error_description == "The user said no"


def test_callback_without_state_is_refused(op: FakeOP) -> None:
    """A callback with no ``state`` is refused, with or without the stored login."""
    op.callback_state = ""
    client = make_client(op)
    params, login_state = _callback(client)
    assert "state" not in params
    for expected in (None, login_state):
        with pytest.raises(CallbackError) as exc:
            client.finish_login(params, expected=expected, browser_token=BROWSER)
        assert exc.value.reason == "state_missing"


def test_callback_with_another_state_is_refused(op: FakeOP) -> None:
    """A ``state`` that is not the login's is refused and no code is exchanged."""
    op.callback_state = "forged-state"
    client = make_client(op)
    params, login_state = _callback(client)
    with pytest.raises(CallbackError) as exc:
        client.finish_login(params, expected=login_state, browser_token=BROWSER)
    assert exc.value.reason == "state_mismatch"
    with pytest.raises(CallbackError) as unknown:
        client.finish_login(params, browser_token=BROWSER)
    assert unknown.value.reason == "state_unknown"
    assert op.token_requests == []


# -- Machine-to-machine and legacy grants ----------------------------------------------------


def test_client_credentials_token_is_cached_until_shortly_before_expiry(op: FakeOP) -> None:
    """One token request serves until expires_in minus the refresh margin has passed."""
    op.client_credentials_expires_in = 600
    clock = Clock()
    client = make_client(op, clock=clock)
    first = client.client_credentials(("crew.read",))
    assert op.token_requests[-1]["form"] == {
        "grant_type": "client_credentials",
        "scope": "crew.read",
    }
    clock.now += 539  # 61 s before expiry: the 60 s margin has not started
    assert client.client_credentials(("crew.read",)) is first
    assert op.counts["/auth/connect/token"] == 1
    clock.now += 2  # 59 s before expiry: inside the margin
    second = client.client_credentials(("crew.read",))
    assert second.access_token != first.access_token
    assert op.counts["/auth/connect/token"] == 2
    client.client_credentials(("crew.write",))
    assert op.counts["/auth/connect/token"] == 3


def test_password_grant_works(op: FakeOP) -> None:
    """The legacy password grant returns tokens; wrong credentials are invalid_grant."""
    client = make_client(op)
    tokens = client.password_grant("ingrid", "Sjoe-Mann-2026!", scopes=("openid", "crew.public"))
    assert tokens.access_token and tokens.refresh_token
    form = op.token_requests[-1]["form"]
    assert form["grant_type"] == "password"
    assert (form["username"], form["scope"]) == ("ingrid", "openid crew.public")
    with pytest.raises(ProviderResponseError) as exc:
        client.password_grant("ingrid", "wrong")
    assert exc.value.error == "invalid_grant"


@pytest.mark.parametrize(
    ("typ", "reason"),
    [("logout+jwt", None), ("JWT", None), ("at+jwt", "typ")],
    ids=["logout-jwt", "plain-jwt-from-older-identityserver", "access-token-type"],
)
def test_logout_token_typ(op: FakeOP, typ: str, reason: str | None) -> None:
    """typ logout+jwt or plain JWT is accepted; another explicit type is refused."""
    token = op.signed_logout_token(_header={"typ": typ})
    client = make_client(op)
    if reason is None:
        assert client.validate_logout_token(token).subject == op.sub
        return
    with pytest.raises(TokenError) as exc:
        client.validate_logout_token(token)
    assert exc.value.reason == reason


def test_client_credentials_token_without_expiry_is_not_reused(op: FakeOP) -> None:
    """A token with no expires_in has no safe reuse window, so each call fetches anew."""
    op.token_response = lambda form: (200, {"access_token": "t", "token_type": "Bearer"})
    client = make_client(op)
    client.client_credentials(("crew_read",))
    client.client_credentials(("crew_read",))
    assert op.counts["/auth/connect/token"] == 2
