"""The app's sign-in state, built once from ``settings.RPKIT`` and the ``RPKIT_*`` environment.

``settings.RPKIT`` takes the keys of the other integrations (``"RPKIT_BASE_URL"``,
``"RPKIT_OIDC_ISSUER"``..., and the objects ``"RPKIT_OIDC"``, ``"RPKIT_SAML"``,
``"RPKIT_STORE"``, ``"RPKIT_RANKS"``); it overrides the environment. A key rpkit does not
know, or a value of the wrong type, is refused with ``ConfigurationError``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from ..errors import ConfigurationError
from ..web.flow import WebState
from ..web.settings import Settings

__all__ = ["config", "reset", "rpkit_state"]

# Set in settings.RPKIT as objects rather than strings (see rpkit.web.settings).
OBJECT_KEYS = frozenset({"RPKIT_OIDC", "RPKIT_SAML", "RPKIT_STORE", "RPKIT_RANKS"})

_lock = threading.Lock()
_state: WebState | None = None


def config() -> dict[str, Any]:
    """``settings.RPKIT``, checked: ``RPKIT_*`` keys, strings (or None) but the objects."""
    given = getattr(settings, "RPKIT", None) or {}
    if not isinstance(given, Mapping):
        raise ConfigurationError("settings.RPKIT must be a dict of RPKIT_* settings")
    for key, value in given.items():
        if not isinstance(key, str) or not key.startswith("RPKIT_"):
            raise ConfigurationError(
                f"settings.RPKIT key {key!r} is not an rpkit setting: keys are the RPKIT_* "
                'names of the environment, like "RPKIT_OIDC_ISSUER"'
            )
        if key not in OBJECT_KEYS and value is not None and not isinstance(value, str):
            raise ConfigurationError(f'settings.RPKIT["{key}"] must be a string')
    return dict(given)


def rpkit_state() -> WebState:
    """The settings, the store, the protocol clients and the sessions (built once)."""
    global _state
    with _lock:
        if _state is None:
            _state = WebState(Settings.from_config(config()))
        return _state


def reset() -> None:
    """Forget the state; the next request builds it again (``settings.RPKIT`` changed)."""
    global _state
    with _lock:
        _state = None
