"""`rpkit doctor` against the sandbox over real HTTP and HTTPS: a healthy configuration
passes every check, and each fault fails (or warns) exactly the check that names it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from rpkit.doctor import CHECK_IDS, Report, run_doctor
from rpkit.saml import generate_sp_certificate
from rpkit.testing import (
    SCIM_READONLY_CLIENT_ID,
    SCIM_READONLY_CLIENT_SECRET,
    SandboxHandle,
    sandbox_server,
)

from .conftest import app_env, demo_sp_files


def problems(report: Report) -> dict[str, str]:
    """Every check that warned or failed, with its status."""
    return {c.id: c.status for c in report.checks if c.status in ("warn", "fail")}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- healthy ----------------------------------------------------------------------------


def test_healthy_http_configuration_passes_every_check(
    http_sandbox: SandboxHandle, redis_url: str
) -> None:
    """The sandbox's env block plus a live Redis: every one of the 14 checks is ok."""
    report = run_doctor(app_env(http_sandbox, RPKIT_REDIS_URL=redis_url))
    assert [c.id for c in report.checks] == list(CHECK_IDS)
    assert {c.id: c.status for c in report.checks} == dict.fromkeys(CHECK_IDS, "ok")
    assert report.ok and report.exit_code == 0


def test_healthy_tls_configuration_passes_every_check(
    tls_sandbox: SandboxHandle, redis_url: str
) -> None:
    """Over https with the printed RPKIT_CA_BUNDLE every check is ok; oidc.tls names the bundle."""
    env = app_env(tls_sandbox, RPKIT_REDIS_URL=redis_url)
    report = run_doctor(env)
    assert {c.id: c.status for c in report.checks} == dict.fromkeys(CHECK_IDS, "ok")
    assert f"RPKIT_CA_BUNDLE={env['RPKIT_CA_BUNDLE']}" in report.get("oidc.tls").message
    assert "http://127.0.0.1:5000/auth/oidc/callback" in report.get("oidc.redirect_uri").message
    assert "http://127.0.0.1:5000/auth/saml/metadata" in report.get("saml.sp").message


def test_doctor_writes_nothing_and_issues_no_oidc_token(tls_sandbox: SandboxHandle) -> None:
    """The OIDC checks get no code and no token; SCIM sees only GETs; one SCIM token is issued."""
    report = run_doctor(app_env(tls_sandbox), only=("oidc",))
    assert report.ok
    answers = tls_sandbox.response_counts()
    assert answers["token"] == {"400": 1}  # client_auth's made-up code: invalid_grant
    assert set(answers["authorize"]) == {"200"}  # login pages, no redirect with a code
    assert not tls_sandbox.state.codes and not tls_sandbox.state.refresh_tokens
    tls_sandbox.reset_counts()
    assert run_doctor(app_env(tls_sandbox)).ok
    methods = tls_sandbox.request_counts(by_method=True)
    scim = {k: v for k, v in methods.items() if k.startswith("scim_")}
    assert scim and all(set(v) == {"GET"} for v in scim.values()), methods
    assert tls_sandbox.response_counts()["token"] == {"400": 1, "200": 1}  # + scim.token
    assert not tls_sandbox.state.codes and not tls_sandbox.state.refresh_tokens


# -- OIDC faults -------------------------------------------------------------------------


def test_wrong_secret_fails_client_auth(http_sandbox: SandboxHandle) -> None:
    """A secret rotated at the provider: oidc.client_auth fails and names the secret variable."""
    env = app_env(http_sandbox)  # what the app was configured with
    http_sandbox.set_client_secret("rpkit-demo", "rotated-in-the-portal")
    report = run_doctor(env)
    assert problems(report) == {"oidc.client_auth": "fail"}
    assert "RPKIT_OIDC_CLIENT_SECRET" in report.get("oidc.client_auth").fix
    assert report.exit_code == 1


def test_unregistered_redirect_uri_fails_redirect_uri(http_sandbox: SandboxHandle) -> None:
    """An app URL the client did not register: oidc.redirect_uri fails and says what to register."""
    report = run_doctor(app_env(http_sandbox, RPKIT_BASE_URL="http://127.0.0.1:5999"))
    assert problems(report) == {"oidc.redirect_uri": "fail"}
    assert report.get("oidc.scopes").status == "skip"
    fix = report.get("oidc.redirect_uri").fix
    assert "http://127.0.0.1:5999/auth/oidc/callback" in fix and "portal" in fix
    assert "http://127.0.0.1:5999/" in fix  # the sign-out redirect URI too


def test_trailing_slash_issuer_fails_issuer(http_sandbox: SandboxHandle) -> None:
    """An issuer with a trailing slash: oidc.issuer fails and says to drop the slash."""
    env = app_env(http_sandbox)
    env["RPKIT_OIDC_ISSUER"] = http_sandbox.issuer + "/"
    report = run_doctor(env)
    assert problems(report) == {"oidc.issuer": "fail"}
    fix = report.get("oidc.issuer").fix
    assert "trailing slash" in fix and f"RPKIT_OIDC_ISSUER={http_sandbox.issuer}" in fix


def test_clock_five_minutes_off_fails_clock(http_sandbox: SandboxHandle) -> None:
    """A provider clock 5 minutes ahead fails oidc.clock with the offset to set; set, it passes."""
    http_sandbox.set_clock_offset(300)
    report = run_doctor(app_env(http_sandbox))
    assert problems(report) == {"oidc.clock": "fail"}
    fix = report.get("oidc.clock").fix
    offset = int(fix.split("RPKIT_OIDC_CLOCK_OFFSET=")[1].split()[0])
    assert 298 <= offset <= 302
    fixed = run_doctor(app_env(http_sandbox, RPKIT_OIDC_CLOCK_OFFSET=str(offset)))
    assert fixed.get("oidc.clock").status == "ok" and fixed.ok


def test_clock_forty_seconds_off_warns(http_sandbox: SandboxHandle) -> None:
    """Past 30 s but within the 60 s leeway: a warning, exit 0."""
    http_sandbox.set_clock_offset(-40)
    report = run_doctor(app_env(http_sandbox))
    assert problems(report) == {"oidc.clock": "warn"}
    assert report.exit_code == 0


def test_refused_scope_fails_scopes(http_sandbox: SandboxHandle) -> None:
    """A scope the client may not ask for fails oidc.scopes (not the redirect URI check)."""
    report = run_doctor(app_env(http_sandbox, RPKIT_OIDC_SCOPES="openid crew_import"))
    assert problems(report) == {"oidc.scopes": "fail"}
    assert "RPKIT_OIDC_SCOPES" in report.get("oidc.scopes").fix


# -- TLS faults --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("certificate", "status", "found"),
    [
        ("expired", "fail", "(expired): the certificate expired on"),
        (
            "unknown_ca",
            "fail",
            '(unknown_ca): the certificate is issued by "rpkit sandbox unknown CA"',
        ),
        ("self_signed", "fail", "(self_signed)"),
        ("wrong_name", "fail", "(name_mismatch): the certificate is for wrong-name"),
        ("expiring", "warn", "expires"),
    ],
)
def test_tls_faults_fail_tls_with_the_reason(
    tls_sandbox: SandboxHandle, certificate: str, status: str, found: str
) -> None:
    """Each certificate fault gives oidc.tls its own reason; nothing else in OIDC runs on a fail."""
    tls_sandbox.serve_tls_certificate(certificate)
    report = run_doctor(app_env(tls_sandbox), only=("oidc",))
    assert problems(report) == {"oidc.tls": status}
    assert found in report.get("oidc.tls").message
    if status == "fail":
        assert {c.status for c in report.checks if c.id.startswith("oidc.")} == {"fail", "skip"}
        assert report.exit_code == 1
    else:
        assert report.exit_code == 0


def test_expired_certificate_fails_the_full_run(tls_sandbox: SandboxHandle) -> None:
    """Without --only, an expired certificate still makes the run exit 1 with oidc.tls failing."""
    tls_sandbox.serve_tls_certificate("expired")
    report = run_doctor(app_env(tls_sandbox))
    assert report.get("oidc.tls").status == "fail" and report.exit_code == 1
    assert "renew" in report.get("oidc.tls").fix


def test_unknown_ca_without_bundle_names_the_variable(tls_sandbox: SandboxHandle) -> None:
    """No RPKIT_CA_BUNDLE for a private CA: oidc.tls fails and tells to set it."""
    env = app_env(tls_sandbox)
    del env["RPKIT_CA_BUNDLE"]
    report = run_doctor(env, only=("oidc",))
    assert problems(report) == {"oidc.tls": "fail"}
    check = report.get("oidc.tls")
    assert "(unknown_ca)" in check.message and "system trust store" in check.message
    assert "RPKIT_CA_BUNDLE" in check.fix


def test_ship_host_by_ip_while_the_certificate_names_a_host(tmp_path: Path) -> None:
    """RPKIT_OIDC_SHIP_HOST=127.0.0.1 against a certificate for localhost: oidc.tls fails with
    the host name to set."""
    with sandbox_server(tmp_path, tls=True, tls_hostnames=("localhost",)) as ship:
        env = app_env(ship)
        del env["RPKIT_OIDC_ISSUER"]
        env["RPKIT_OIDC_SHIP_HOST"] = "127.0.0.1"
        env["RPKIT_OIDC_SHIP_PORT"] = str(ship.server.port)
        report = run_doctor(env)
        assert problems(report) == {"oidc.tls": "fail"}
        check = report.get("oidc.tls")
        assert "the certificate is for localhost, not the IP address 127.0.0.1" in check.message
        assert "RPKIT_OIDC_SHIP_HOST=localhost" in check.fix
        env["RPKIT_OIDC_SHIP_HOST"] = "localhost"
        assert run_doctor(env).ok


def test_unreachable_provider_fails_each_part(http_sandbox: SandboxHandle) -> None:
    """Every URL on a closed port: discovery, metadata and the SCIM token fail; the rest skip."""
    port = closed_port()
    env = {
        k: v.replace(f":{http_sandbox.server.port}/", f":{port}/")
        for k, v in app_env(http_sandbox).items()
    }
    report = run_doctor(env)
    assert problems(report) == {
        "oidc.discovery": "fail",
        "saml.metadata": "fail",
        "scim.token": "fail",
    }
    assert "connection was refused" in report.get("oidc.discovery").message
    skipped = {c.id for c in report.checks if c.status == "skip"}
    assert skipped == {i for i in CHECK_IDS if i.startswith("oidc.")} - {
        "oidc.tls",
        "oidc.discovery",
    } | {"scim.read", "redis"}


def test_unreachable_https_provider_fails_tls(tls_sandbox: SandboxHandle) -> None:
    """An https issuer on a closed port: oidc.tls fails as unreachable."""
    port = closed_port()
    env = {
        k: v.replace(f":{tls_sandbox.server.port}/", f":{port}/")
        for k, v in app_env(tls_sandbox).items()
    }
    report = run_doctor(env, only=("oidc",))
    assert problems(report) == {"oidc.tls": "fail"}
    assert "unreachable" in report.get("oidc.tls").message


# -- SAML, SCIM, Redis, env --------------------------------------------------------------


def test_expired_saml_metadata_fails_metadata(http_sandbox: SandboxHandle) -> None:
    """Metadata whose validUntil passed fails saml.metadata."""
    http_sandbox.set_metadata_valid_for(-3600)
    report = run_doctor(app_env(http_sandbox))
    assert problems(report) == {"saml.metadata": "fail"}
    assert "validUntil passed" in report.get("saml.metadata").message


def test_saml_metadata_lapsing_before_refresh_warns(http_sandbox: SandboxHandle) -> None:
    """Metadata that expires before the SP's next refresh (24 h) warns."""
    http_sandbox.set_metadata_valid_for(3 * 3600)
    report = run_doctor(app_env(http_sandbox))
    assert problems(report) == {"saml.metadata": "warn"}


def test_sp_key_not_matching_certificate_fails_sp(
    http_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    """An SP key that is not the certificate's fails saml.sp and names both variables."""
    other_key, _ = generate_sp_certificate(tmp_path, name="other", key_size=2048)
    _, demo_cert = demo_sp_files()
    env = app_env(
        http_sandbox, RPKIT_SAML_SP_KEY_FILE=str(other_key), RPKIT_SAML_SP_CERT_FILE=str(demo_cert)
    )
    report = run_doctor(env)
    assert problems(report) == {"saml.sp": "fail"}
    check = report.get("saml.sp")
    assert "is not the key of RPKIT_SAML_SP_CERT_FILE" in check.message
    assert "RPKIT_SAML_SP_KEY_FILE" in check.fix


def test_crew_read_client_asking_for_crew_import_fails_token(http_sandbox: SandboxHandle) -> None:
    """A crew_read-only API client configured for crew_import fails scim.token."""
    env = app_env(
        http_sandbox,
        RPKIT_SCIM_CLIENT_ID=SCIM_READONLY_CLIENT_ID,
        RPKIT_SCIM_CLIENT_SECRET=SCIM_READONLY_CLIENT_SECRET,
        RPKIT_SCIM_SCOPE="crew_import",
    )
    report = run_doctor(env)
    assert problems(report) == {"scim.token": "fail"}
    assert report.get("scim.read").status == "skip"
    assert "RPKIT_SCIM_SCOPE=crew_read" in report.get("scim.token").fix
    env["RPKIT_SCIM_SCOPE"] = "crew_read"
    assert run_doctor(env).ok


def test_redis_down_fails_redis(http_sandbox: SandboxHandle) -> None:
    """A Redis URL nobody answers at fails the redis check."""
    report = run_doctor(
        app_env(http_sandbox, RPKIT_REDIS_URL=f"redis://:hunter2@127.0.0.1:{closed_port()}/0")
    )
    assert problems(report) == {"redis": "fail"}
    check = report.get("redis")
    assert "RPKIT_REDIS_URL" in check.fix and "hunter2" not in check.message


def test_typo_in_an_env_variable_fails_config_env(http_sandbox: SandboxHandle) -> None:
    """A misspelt variable fails config.env with a "did you mean"; the other checks still run."""
    report = run_doctor(app_env(http_sandbox, RPKIT_SESSION_LIFETIM="3600"))
    assert problems(report) == {"config.env": "fail"}
    check = report.get("config.env")
    assert 'did you mean "RPKIT_SESSION_LIFETIME"' in check.message
    assert "rename RPKIT_SESSION_LIFETIM to RPKIT_SESSION_LIFETIME" in check.fix


def test_only_limits_the_run(http_sandbox: SandboxHandle) -> None:
    """--only scim runs config.env and the SCIM checks only."""
    report = run_doctor(app_env(http_sandbox), only=("scim",))
    assert [c.id for c in report.checks] == ["config.env", "scim.token", "scim.read"]


def test_nothing_configured_warns(tmp_path: Path) -> None:
    """No provider at all: config.env warns and every check skips; exit 0."""
    report = run_doctor({})
    assert problems(report) == {"config.env": "warn"}
    assert {c.status for c in report.checks[1:]} == {"skip"}


def test_self_signed_fix_pins_the_certificate(tls_sandbox: SandboxHandle) -> None:
    """The self-signed fix gives a pin; with that pin set (and no CA), oidc.tls passes."""
    tls_sandbox.serve_tls_certificate("self_signed")
    env = app_env(tls_sandbox)
    report = run_doctor(env, only=("oidc",))
    fix = report.get("oidc.tls").fix
    pin = fix.split("RPKIT_HTTP_PINNED_CERT_SHA256=")[1].split()[0]
    del env["RPKIT_CA_BUNDLE"]
    pinned = run_doctor({**env, "RPKIT_HTTP_PINNED_CERT_SHA256": pin}, only=("oidc",))
    assert pinned.ok and pinned.get("oidc.tls").status == "ok"
    assert "the pinned certificate" in pinned.get("oidc.tls").message


def test_pin_of_another_certificate_fails_tls(tls_sandbox: SandboxHandle) -> None:
    """A pinned fingerprint the server does not present fails oidc.tls."""
    env = app_env(tls_sandbox, RPKIT_HTTP_PINNED_CERT_SHA256="ab" * 32)
    del env["RPKIT_CA_BUNDLE"]
    report = run_doctor(env, only=("oidc",))
    assert problems(report) == {"oidc.tls": "fail"}
    assert "not the pinned one" in report.get("oidc.tls").message


def test_offline_access_not_allowed_fails_scopes(tmp_path: Path) -> None:
    """A client without offline access (Duende's default) asking for offline_access: the
    provider's error page, oidc.scopes fails and names the portal switch."""
    from dataclasses import replace

    from rpkit.sandbox.config import DEFAULT_CLIENTS

    clients = tuple(
        replace(c, allow_offline_access=False) if c.client_id == "rpkit-demo" else c
        for c in DEFAULT_CLIENTS
    )
    with sandbox_server(tmp_path, clients=clients) as sandbox:
        env = app_env(sandbox, RPKIT_OIDC_SCOPES="openid profile offline_access")
        report = run_doctor(env, only=("oidc",))
        assert problems(report) == {"oidc.scopes": "fail"}
        check = report.get("oidc.scopes")
        assert "invalid_scope" in check.message and "offline access" in check.fix
        assert run_doctor({**env, "RPKIT_OIDC_SCOPES": "openid profile"}, only=("oidc",)).ok
