"""No token, code, password or secret in any error message or log line, whatever fails."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rpkit.errors import (
    IdTokenError,
    ProviderResponseError,
    ProviderUnavailableError,
    RpkitError,
    TokenError,
    UserinfoError,
)
from rpkit.oidc import OidcClient

from .conftest import BROWSER, follow_authorize, login, make_client
from .fake_op import CLIENT_SECRET, FakeOP, new_rsa_key, sign_jwt

PASSWORD = "Sjoe-Mann-2026!"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def assert_no_secrets(
    exc: BaseException, caplog: pytest.LogCaptureFixture, secrets: list[str | None]
) -> None:
    """None of ``secrets`` appears in the error, its causes, its fields or any log record."""
    texts = []
    for err in _chain(exc):
        texts += [str(err), repr(err)]
        if isinstance(err, RpkitError):  # our fields too: error_description, error...
            texts += [v for v in vars(err).values() if isinstance(v, str)]
    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    checked = [s for s in secrets if s]
    assert checked, "nothing to look for"
    for secret in checked:
        for text in texts:
            assert secret not in text, f"a secret leaked into: {text[:200]}"


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def _start(client: OidcClient) -> tuple[dict[str, str], str]:
    """Run the browser part of a login; return the callback and the code verifier."""
    started = client.start_login(browser_token=BROWSER)
    url, state = started.url, started.login
    return follow_authorize(url), state.code_verifier


def _login_secrets(op: FakeOP, params: dict[str, str], verifier: str) -> list[str | None]:
    secrets: list[str | None] = [CLIENT_SECRET, params.get("code"), verifier]
    for _, body in op.token_responses:
        if isinstance(body, dict):
            secrets += [body.get("access_token"), body.get("refresh_token"), body.get("id_token")]
    return secrets


def _token_answer(status: int, body: Any) -> Callable[[dict[str, str]], tuple[int, Any]]:
    def answer(form: dict[str, str]) -> tuple[int, Any]:
        return status, body(form) if callable(body) else body

    return answer


TOKENS = {
    "access_token": "AT-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "refresh_token": "RT-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "id_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjcmV3LTEwMDEifQ.c2lnbmF0dXJlLXNlY3JldA",
}

BAD_TOKEN_RESPONSES = {
    "token_type_not_bearer": _token_answer(200, {**TOKENS, "token_type": "mac"}),
    "no_access_token": _token_answer(
        200, {"token_type": "Bearer", "refresh_token": TOKENS["refresh_token"]}
    ),
    "not_json": _token_answer(200, lambda form: f"<html>code={form['code']} {TOKENS}</html>"),
    "json_array": _token_answer(200, [TOKENS]),
    "invalid_grant": _token_answer(400, {"error": "invalid_grant"}),
    "invalid_grant_echoing_the_code": _token_answer(
        400,
        lambda form: {
            "error": "invalid_grant",
            "error_description": f"code {form['code']} (verifier {form['code_verifier']}) "
            f"was already used; client_secret={CLIENT_SECRET}",
        },
    ),
    "server_error_with_echo": _token_answer(503, lambda form: {"error": form["code"]}),
}


@pytest.mark.parametrize(
    "answer", list(BAD_TOKEN_RESPONSES.values()), ids=list(BAD_TOKEN_RESPONSES)
)
def test_bad_token_responses_leak_nothing(
    op: FakeOP, caplog: pytest.LogCaptureFixture, answer: Callable[..., tuple[int, Any]]
) -> None:
    """A malformed or refused token response fails without quoting the code or any token."""
    op.token_response = answer
    client = make_client(op)
    params, verifier = _start(client)
    with pytest.raises((ProviderResponseError, ProviderUnavailableError)) as exc:
        client.finish_login(params, browser_token=BROWSER)
    assert_no_secrets(exc.value, caplog, [*_login_secrets(op, params, verifier), *TOKENS.values()])


ID_TOKEN_DEFECTS: dict[str, Callable[[FakeOP], None]] = {
    "bad_signature": lambda op: setattr(op, "sign_with", new_rsa_key("k1")),
    "alg_none": lambda op: setattr(op, "alg", "none"),
    "unknown_kid": lambda op: setattr(op, "sign_with", new_rsa_key("k-unknown")),
    "nonce": lambda op: op.id_token_claims.update(nonce="forged"),
    "audience": lambda op: op.id_token_claims.update(aud="another-client"),
}


@pytest.mark.parametrize("defect", list(ID_TOKEN_DEFECTS.values()), ids=list(ID_TOKEN_DEFECTS))
def test_id_token_failures_leak_nothing(
    op: FakeOP, caplog: pytest.LogCaptureFixture, defect: Callable[[FakeOP], None]
) -> None:
    """A rejected ID token names the rule, never the token, the code or the access token."""
    defect(op)
    client = make_client(op)
    params, verifier = _start(client)
    with pytest.raises(IdTokenError) as exc:
        client.finish_login(params, browser_token=BROWSER)
    assert_no_secrets(exc.value, caplog, _login_secrets(op, params, verifier))


def test_refresh_failure_leaks_nothing(op: FakeOP, caplog: pytest.LogCaptureFixture) -> None:
    """A refused refresh token is not quoted back."""
    client = make_client(op)
    first = login(client)
    refresh_token = first.tokens.refresh_token
    assert refresh_token
    client.refresh(refresh_token, previous=first.id_token)  # rotates; the old one is now dead
    caplog.clear()
    with pytest.raises(ProviderResponseError) as exc:
        client.refresh(refresh_token + "x", previous=first.id_token)
    assert exc.value.error == "invalid_grant"
    assert_no_secrets(exc.value, caplog, [refresh_token, CLIENT_SECRET])


def test_refreshed_id_token_failure_leaks_nothing(
    op: FakeOP, caplog: pytest.LogCaptureFixture
) -> None:
    """A refreshed ID token with another sub fails without quoting any token."""
    client = make_client(op)
    first = login(client)
    assert first.tokens.refresh_token
    op.refresh_claims["sub"] = "crew-6666"
    with pytest.raises(IdTokenError) as exc:
        client.refresh(first.tokens.refresh_token, previous=first.id_token)
    assert exc.value.reason == "sub"
    secrets = [first.tokens.refresh_token, first.tokens.access_token, CLIENT_SECRET]
    secrets += [op.token_responses[-1][1]["id_token"], op.token_responses[-1][1]["access_token"]]
    assert_no_secrets(exc.value, caplog, secrets)


def test_wrong_client_secret_leaks_nothing(op: FakeOP, caplog: pytest.LogCaptureFixture) -> None:
    """invalid_client does not quote the configured secret."""
    client = make_client(op, client_secret="wrong-secret-7c1f2e3d4a5b6978")
    params, verifier = _start(client)
    with pytest.raises(ProviderResponseError) as exc:
        client.finish_login(params, browser_token=BROWSER)
    assert exc.value.error == "invalid_client"
    assert_no_secrets(
        exc.value, caplog, ["wrong-secret-7c1f2e3d4a5b6978", params["code"], verifier]
    )


def test_password_grant_failure_leaks_nothing(op: FakeOP, caplog: pytest.LogCaptureFixture) -> None:
    """A refused password grant quotes neither the password nor the client secret."""
    op.token_response = _token_answer(
        400,
        lambda form: {"error": "invalid_grant", "error_description": f"bad: {form['password']}"},
    )
    with pytest.raises(ProviderResponseError) as exc:
        make_client(op).password_grant("ingrid", PASSWORD + "-typo")
    assert_no_secrets(exc.value, caplog, [PASSWORD + "-typo", CLIENT_SECRET])


def test_token_endpoint_down_leaks_nothing(op: FakeOP, caplog: pytest.LogCaptureFixture) -> None:
    """A network failure during the code exchange names the endpoint, not the code."""
    client = make_client(op)
    params, verifier = _start(client)
    op.stop(hold_port=True)
    with pytest.raises(ProviderUnavailableError) as exc:
        client.finish_login(params, browser_token=BROWSER)
    assert_no_secrets(exc.value, caplog, [params["code"], verifier, CLIENT_SECRET])


def test_userinfo_failures_leak_nothing(op: FakeOP, caplog: pytest.LogCaptureFixture) -> None:
    """Userinfo rejections quote neither the access token nor the ID token."""
    client = make_client(op)
    result = login(client)
    secrets = [result.tokens.access_token, result.tokens.id_token, result.tokens.refresh_token]
    op.userinfo_claims["sub"] = "crew-6666"
    with pytest.raises(UserinfoError) as mismatch:
        client.userinfo(result.tokens.access_token, subject=result.identity.subject)
    assert_no_secrets(mismatch.value, caplog, secrets)
    forged = "AT-forged-5e4d3c2b1a09f8e7d6c5"
    with pytest.raises(ProviderResponseError) as refused:
        client.userinfo(forged, subject=result.identity.subject)
    assert (refused.value.status, refused.value.error) == (401, "invalid_token")
    assert_no_secrets(refused.value, caplog, [*secrets, forged])


def test_logout_and_access_token_failures_leak_nothing(
    op: FakeOP, caplog: pytest.LogCaptureFixture
) -> None:
    """Rejected logout and bearer tokens are not quoted in errors or logs."""
    client = make_client(op, access_token_audience=("crew-api",))
    logout_token = op.signed_logout_token(aud="another-client")
    now = int(time.time())
    access_token = sign_jwt(
        {"iss": op.issuer, "sub": "crew-1001", "aud": "crew-api", "iat": now, "exp": now - 600},
        op.keys[0],
        header={"typ": "at+jwt"},
    )
    errors: list[RpkitError] = []
    for call in (
        lambda: client.validate_logout_token(logout_token),
        lambda: client.validate_access_token(access_token),
        lambda: client.validate_access_token(access_token[:-6] + "AAAAAA"),
    ):
        with pytest.raises(TokenError) as exc:
            call()
        errors.append(exc.value)
    for error in errors:
        assert_no_secrets(error, caplog, [logout_token, access_token, CLIENT_SECRET])


def test_token_set_and_login_state_reprs_hide_secrets(op: FakeOP) -> None:
    """Logging a TokenSet, LoginState or IdToken by accident shows no secret."""
    client = make_client(op)
    started = client.start_login(browser_token=BROWSER)
    url, state = started.url, started.login
    result = client.finish_login(follow_authorize(url), browser_token=BROWSER)
    shown = repr(result) + repr(state) + repr(client.config)
    for secret in (
        result.tokens.access_token,
        result.tokens.refresh_token,
        result.tokens.id_token,
        state.code_verifier,
        CLIENT_SECRET,
    ):
        assert secret and secret not in shown
