"""The Django app: ``INSTALLED_APPS = [..., "rpkit.django"]``."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed


class RpkitConfig(AppConfig):
    name = "rpkit.django"
    label = "rpkit"
    verbose_name = "Sign-in with Dualog Identity"

    def ready(self) -> None:
        from .checks import middleware_installed
        from .state import reset, rpkit_state

        checks.register(middleware_installed)

        setting_changed.connect(_on_setting_changed, dispatch_uid="rpkit.django.settings")
        reset()
        # Validate the configuration at start: a typo or a missing secret stops the app
        # here (ConfigurationError) instead of at the first sign-in.
        rpkit_state()


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting == "RPKIT":
        from .state import reset

        reset()
