"""Run every check of a configuration, in the order of :data:`CHECK_IDS`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from .report import CHECK_IDS, CheckResult, Report, fail
from .setup import Setup, load_setup

__all__ = ["GROUPS", "run_doctor"]

# What ``--only`` accepts; ``config.env`` always runs, every other check depends on it.
GROUPS = ("oidc", "saml", "scim", "redis")

_PART_VARIABLES = {
    "oidc": "RPKIT_OIDC_ISSUER or RPKIT_OIDC_SHIP_HOST, RPKIT_OIDC_CLIENT_ID",
    "saml": "RPKIT_SAML_IDP_METADATA_URL or RPKIT_SAML_IDP_METADATA_FILE",
    "scim": "RPKIT_SCIM_CLIENT_ID, RPKIT_SCIM_CLIENT_SECRET",
}


def run_doctor(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: str | Path | None = None,
    only: Collection[str] = (),
) -> Report:
    """Check the configuration in ``environ`` (default ``os.environ``) plus ``env_file``.

    ``only`` limits the run to some of :data:`GROUPS` (``config.env`` always runs).

    Raises:
        ConfigurationError: the env file is unreadable or malformed (a usage error).
        ValueError: ``only`` names an unknown group.
    """
    unknown_groups = set(only) - set(GROUPS)
    if unknown_groups:
        raise ValueError(
            f"--only takes {', '.join(GROUPS)}; not {', '.join(sorted(unknown_groups))}"
        )
    setup = load_setup(environ, env_file=env_file)
    results = [_config_env(setup)]
    wanted = set(only) or set(GROUPS)
    if "oidc" in wanted:
        results += _part(setup, "oidc")
    if "saml" in wanted:
        results += _part(setup, "saml")
    if "scim" in wanted:
        results += _part(setup, "scim")
    if "redis" in wanted:
        from .store import check_redis

        results.append(check_redis(setup.redis_url))
    order = {check_id: i for i, check_id in enumerate(CHECK_IDS)}
    return Report(tuple(sorted(results, key=lambda r: order[r.id])))


def _ids(part: str) -> list[str]:
    return [i for i in CHECK_IDS if i.startswith(part + ".")]


def _part(setup: Setup, part: str) -> list[CheckResult]:
    if part in setup.errors or "base_url" in setup.errors:
        return [
            CheckResult(
                id=i, status="skip", message=f"the {part} settings did not load (config.env)"
            )
            for i in _ids(part)
        ]
    if part == "oidc" and setup.oidc is not None:
        from .oidc import run_oidc_checks

        return run_oidc_checks(setup.oidc, ship=setup.ship_host)
    if part == "saml" and setup.saml is not None:
        from .saml import run_saml_checks

        assert setup.base_url is not None
        return run_saml_checks(setup.saml, base_url=setup.base_url)
    if part == "scim" and setup.scim is not None:
        from .scim import run_scim_checks

        return run_scim_checks(setup.scim)
    return [
        CheckResult(
            id=i, status="skip", message=f"{part} is not configured ({_PART_VARIABLES[part]})"
        )
        for i in _ids(part)
    ]


def _config_env(setup: Setup) -> CheckResult:
    problems = [str(u) for u in setup.unknown]
    problems += [f"{part}: {error}" for part, error in setup.errors.items()]
    files = sorted({s for s in setup.sources.values() if s != "environment"})
    origin = "the environment" + (f" and {', '.join(files)}" if files else "")
    count = len(setup.sources)
    if problems:
        fixes = [
            f"rename {u.name} to {u.suggestion}" if u.suggestion else f"remove {u.name}"
            for u in setup.unknown
        ]
        if setup.errors:
            fixes.append("correct the variables the messages name")
        return fail("config.env", "; ".join(problems), fix="; ".join(fixes))
    if setup.oidc is None and setup.saml is None:
        return CheckResult(
            id="config.env",
            status="warn",
            message=f"{count} RPKIT_* variable(s) from {origin}, but no identity provider is "
            "configured (the sample app would start its built-in sandbox)",
            fix=f"set {_PART_VARIABLES['oidc']}, or {_PART_VARIABLES['saml']}",
        )
    return CheckResult(
        id="config.env",
        status="ok",
        message=f"{count} RPKIT_* variable(s) from {origin}, every one known to rpkit",
    )
