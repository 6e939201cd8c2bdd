"""Read the ``RPKIT_*`` environment (and ``--env-file``) and build each part's config as the
app builds it, keeping every part's error instead of stopping at the first one."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import OidcConfig
from ..env import UnknownVariable, find_unknown_variables
from ..errors import ConfigurationError
from ..scim.config import ScimConfig

__all__ = ["Setup", "load_setup", "read_env_file"]


@dataclass(frozen=True, kw_only=True)
class Setup:
    """What the doctor checks: the variables read and the configs built from them."""

    env: Mapping[str, str] = field(repr=False)
    sources: Mapping[str, str] = field(default_factory=dict)  # variable -> where it came from
    unknown: tuple[UnknownVariable, ...] = ()
    base_url: str | None = None
    oidc: OidcConfig | None = None
    saml: Any | None = None  # rpkit.saml.SamlConfig (the saml extra may be missing)
    scim: ScimConfig | None = None
    redis_url: str | None = None
    # Part ("base_url", "oidc", "saml", "scim") -> why its config could not be built.
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def ship_host(self) -> bool:
        """Whether the OIDC provider is named as a ship host (RPKIT_OIDC_SHIP_HOST)."""
        return bool(self.env.get("RPKIT_OIDC_SHIP_HOST"))


def read_env_file(path: str | Path) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines (``#`` comments, ``export``, shell quoting allowed).

    Raises:
        ConfigurationError: the file is unreadable or a line is not ``KEY=VALUE``.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigurationError(f"env file {str(path)!r} is not readable") from err
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        stripped = stripped.removeprefix("export ").strip()
        name, sep, raw = stripped.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("_", "").isalnum():
            raise ConfigurationError(f"env file {str(path)!r} line {number} is not KEY=VALUE")
        try:
            parts = shlex.split(raw, comments=True) if raw.strip() else [""]
        except ValueError as err:
            raise ConfigurationError(
                f"env file {str(path)!r} line {number} has unbalanced quotes"
            ) from err
        values[name] = " ".join(parts)
    return values


def collect(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """The ``RPKIT_*`` variables of the environment, overridden by ``env_file``; and where
    each came from."""
    env = os.environ if environ is None else environ
    values = {k: v for k, v in env.items() if k.startswith("RPKIT_")}
    sources = dict.fromkeys(values, "environment")
    if env_file is not None:
        from_file = {k: v for k, v in read_env_file(env_file).items() if k.startswith("RPKIT_")}
        values.update(from_file)
        sources.update(dict.fromkeys(from_file, str(env_file)))
    return values, sources


def load_setup(
    environ: Mapping[str, str] | None = None, *, env_file: str | Path | None = None
) -> Setup:
    """Build every configured part from the environment the way the sample app does.

    Unknown variables are set aside (``config.env`` reports them) so that one typo does
    not stop the other checks; each part's configuration error is kept, not raised.
    """
    # The Flask extension's builders are the app's own: same defaults (redirect URIs under
    # RPKIT_BASE_URL, the demo SP key pair on loopback), same refusals.
    from ..web import settings

    values, sources = collect(environ, env_file)
    unknown = find_unknown_variables(values)
    env = {k: v for k, v in values.items() if k not in {u.name for u in unknown}}
    errors: dict[str, str] = {}
    base_url: str | None = None
    try:
        base_url = settings._base_url(env.get("RPKIT_BASE_URL") or settings.DEFAULT_BASE_URL)
    except ConfigurationError as err:
        errors["base_url"] = err.message
    oidc = saml = scim = None
    if base_url is not None:
        try:
            oidc = settings._oidc({}, env, base_url)
        except ConfigurationError as err:
            errors["oidc"] = err.message
        try:
            saml = settings._saml({}, env, base_url)
        except ConfigurationError as err:
            errors["saml"] = err.message
    if any(v for k, v in env.items() if k.startswith("RPKIT_SCIM_")):
        try:
            scim = ScimConfig.from_env(
                {
                    k: v
                    for k, v in env.items()
                    if k.startswith(("RPKIT_SCIM_", "RPKIT_HTTP_")) or k == "RPKIT_CA_BUNDLE"
                }
            )
        except ConfigurationError as err:
            errors["scim"] = err.message
    return Setup(
        env=env,
        sources=sources,
        unknown=unknown,
        base_url=base_url,
        oidc=oidc,
        saml=saml,
        scim=scim,
        redis_url=env.get("RPKIT_REDIS_URL") or None,
        errors=errors,
    )
