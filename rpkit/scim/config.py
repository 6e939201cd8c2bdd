"""``ScimConfig``: where Dualog's User API lives and how to authenticate and retry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from ..config import (
    HttpConfig,
    _from_mapping,
    check_transport,
    with_http_config,
)
from ..env import EnvSettings, build_from_env
from ..errors import ConfigurationError

__all__ = ["DUALOG_SCIM_BASE_URL", "DUALOG_SCIM_TOKEN_URL", "SCIM_SCOPES", "ScimConfig"]

# User API guide: current paths are /api/scim/v2/...; membership is still on /api/v2/...
DUALOG_SCIM_BASE_URL = "https://apps.dualog.com/api/cd-customer-scim-public-api/api/scim/v2"
"""Dualog's SCIM 2.0 API: the default ``ScimConfig.base_url``."""
DUALOG_SCIM_TOKEN_URL = "https://apps.dualog.com/auth/connect/token"
"""Where the SCIM client gets its token (client credentials): the default ``token_url``."""
# crew_import reads and writes; crew_read only reads (User API guide, "Client Scope").
SCIM_SCOPES = ("crew_import", "crew_read")
_CURRENT_SUFFIX = "/api/scim/v2"
_LEGACY_SUFFIX = "/api/v2"


@dataclass(frozen=True, kw_only=True, slots=True)
class ScimConfig(EnvSettings):
    """Dualog's User API and an API client registered in the Dualog portal.

    The token comes from ``token_url`` (client credentials, ``client_secret_basic``), or
    from an ``OidcClient`` handed to ``ScimClient`` (then leave ``token_url`` unset).
    ``legacy_base_url`` (the ``/api/v2`` membership route) is derived from ``base_url``.
    Retries apply to idempotent calls only; ``Retry-After`` is honoured up to
    ``max_retry_after``.
    """

    ENV_PREFIX = "RPKIT_SCIM_"

    base_url: str = DUALOG_SCIM_BASE_URL
    token_url: str | None = None
    client_id: str = ""
    client_secret: str | None = field(default=None, repr=False)
    scope: str = "crew_import"
    legacy_base_url: str | None = None
    page_size: int = 100
    max_retries: int = 4
    backoff: timedelta = timedelta(seconds=0.5)
    max_backoff: timedelta = timedelta(seconds=30)
    max_retry_after: timedelta = timedelta(minutes=5)
    # Dualog tokens live 24 h; take a new one this long before expiry.
    token_refresh_margin: timedelta = timedelta(minutes=5)
    http: HttpConfig = field(default_factory=HttpConfig)

    def __post_init__(self) -> None:
        base = self.base_url.rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f'"base_url" {self.base_url!r} must be an absolute URL')
        if parts.query or parts.fragment:
            raise ConfigurationError('"base_url" must not have a query or fragment')
        check_transport(base, "base_url", self.http)
        object.__setattr__(self, "base_url", base)
        legacy = self.legacy_base_url
        if legacy is None:
            if base.endswith(_CURRENT_SUFFIX):
                legacy = base[: -len(_CURRENT_SUFFIX)] + _LEGACY_SUFFIX
            else:
                legacy = base
        check_transport(legacy, "legacy_base_url", self.http)
        object.__setattr__(self, "legacy_base_url", legacy.rstrip("/"))
        if self.token_url is not None:
            check_transport(self.token_url, "token_url", self.http)
        if not self.scope or any(c.isspace() for c in self.scope.strip()):
            raise ConfigurationError('"scope" must be one scope, e.g. crew_import or crew_read')
        if self.page_size < 1 or self.page_size > 1000:
            raise ConfigurationError('"page_size" must be 1-1000')
        if self.max_retries < 0:
            raise ConfigurationError('"max_retries" must not be negative')
        for name in ("backoff", "max_backoff", "max_retry_after", "token_refresh_margin"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(0):
                raise ConfigurationError(f'"{name}" must be a non-negative timedelta')

    @property
    def effective_token_url(self) -> str:
        """``token_url``, or Dualog's token endpoint when unset."""
        return self.token_url or DUALOG_SCIM_TOKEN_URL

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ScimConfig:
        """Build from field names (``http`` may be a mapping); unknown keys raise."""
        return _from_mapping(cls, with_http_config(values))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScimConfig:
        """Build from ``RPKIT_SCIM_*`` (field names upper-cased) and ``RPKIT_HTTP_*``.

        ``RPKIT_SCIM_BASE_URL``, ``RPKIT_SCIM_TOKEN_URL``, ``RPKIT_SCIM_CLIENT_ID``,
        ``RPKIT_SCIM_CLIENT_SECRET``, ``RPKIT_SCIM_SCOPE``... Unknown ``RPKIT_SCIM_``
        variables raise, so a typo is not ignored.
        """
        return build_from_env(cls, cls.from_mapping, environ, drop_empty=True)


def env_variables() -> frozenset[str]:
    """The ``RPKIT_*`` variables ``ScimConfig`` reads (see ``rpkit.env``)."""
    return ScimConfig.env_variables()
