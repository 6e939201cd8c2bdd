"""The ``RPKIT_*`` environment: which variables rpkit reads, and refusing every other one.

A config dataclass declares its variables in one place, its fields: ``EnvSettings`` turns
each field into ``ENV_PREFIX + FIELD``, so a new setting is a known variable the moment it
exists. Each part of rpkit that reads the environment exposes ``env_variables()`` in its
config module (``_DECLARING_MODULES``); :func:`known_variables` unites them, and
:func:`check_variables` refuses a name that none of them knows, with a "did you mean".

Messages speak in variable names, not field names: a setting read from
``RPKIT_OIDC_ISSUER`` is reported as ``"RPKIT_OIDC_ISSUER"`` (:func:`build_from_env`).

Owns: the list of ``RPKIT_*`` variables and the refusal of unknown ones.
Must not import: any other part statically but ``rpkit.errors`` (the declaring config
modules are loaded by name).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import os
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .errors import ConfigurationError, UnknownSettingError

__all__ = [
    "EnvSettings",
    "UnknownVariable",
    "build_from_env",
    "check_variables",
    "find_unknown_variables",
    "known_variables",
    "suggest_variable",
]

ENV_NAMESPACE = "RPKIT_"

# Every module that reads RPKIT_* variables; each has ``env_variables() -> frozenset[str]``.
# Imported by name so the core does not depend on the optional parts (SAML, Flask, the
# sample app) at import time; a part whose extra is not installed is reported, not guessed.
_DECLARING_MODULES = (
    "rpkit.config",
    "rpkit.saml.config",
    "rpkit.scim.config",
    "rpkit.web.settings",
    "example_app.sandbox",
)

_R = TypeVar("_R")


class EnvSettings:
    """What a config dataclass reads from the environment, derived from its own fields.

    Each field ``name`` is the variable ``ENV_PREFIX + NAME``. ``ENV_KEYS`` adds what
    ``from_mapping`` accepts besides the fields (``ship_host``...); ``ENV_ALIASES`` maps an
    older variable name to its key (``RPKIT_CA_BUNDLE``). A field whose type is itself an
    ``EnvSettings`` (``http``) is read under that type's prefix.
    """

    __slots__ = ()
    ENV_PREFIX: ClassVar[str] = ""
    ENV_KEYS: ClassVar[tuple[str, ...]] = ()
    ENV_ALIASES: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def env_nested(cls) -> dict[str, type[EnvSettings]]:
        """The fields read under another prefix: field name -> its config type."""
        hints = typing.get_type_hints(cls)
        return {
            f.name: hints[f.name]
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], EnvSettings)
        }

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Map each own setting (field or extra key) to its environment variable."""
        nested = cls.env_nested()
        keys = [f.name for f in dataclasses.fields(cls) if f.name not in nested]  # type: ignore[arg-type]
        return {key: cls.ENV_PREFIX + key.upper() for key in (*keys, *cls.ENV_KEYS)}

    @classmethod
    def env_variables(cls) -> frozenset[str]:
        """Every variable this config reads, nested configs and aliases included."""
        names = set(cls.env_names().values()) | set(cls.ENV_ALIASES)
        for nested in cls.env_nested().values():
            names |= nested.env_variables()
        return frozenset(names)

    @classmethod
    def env_prefixes(cls) -> tuple[str, ...]:
        return (cls.ENV_PREFIX, *(n.ENV_PREFIX for n in cls.env_nested().values()))


@dataclass(frozen=True, slots=True)
class UnknownVariable:
    """An ``RPKIT_*`` variable nothing in rpkit reads, and the known one it looks like."""

    name: str
    suggestion: str | None

    def __str__(self) -> str:
        text = f'"{self.name}" is not an rpkit setting'
        if self.suggestion:
            text += f'; did you mean "{self.suggestion}"?'
        return text


def suggest_variable(name: str, known: Iterable[str]) -> str | None:
    """The known variable ``name`` is most likely a typo of, if any is close enough."""
    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return matches[0] if matches else None


def _unknown_error(unknown: Iterable[UnknownVariable], note: str = "") -> UnknownSettingError:
    found = list(unknown)
    return UnknownSettingError(
        "; ".join(str(u) for u in found) + note,
        unknown={u.name: u.suggestion for u in found},
    )


def build_from_env(
    cls: type[EnvSettings],
    build: Callable[[dict[str, Any]], _R],
    environ: Mapping[str, str] | None = None,
    *,
    drop_empty: bool = False,
) -> _R:
    """Read ``cls``'s variables from ``environ`` and ``build`` the config from them.

    Variables under ``cls``'s prefixes that it does not read raise, with a suggestion;
    other ``RPKIT_*`` variables belong to other concerns and are left alone. A
    ``ConfigurationError`` from ``build`` is re-raised with variable names for field names.
    """
    env = os.environ if environ is None else environ
    own = cls.env_variables()
    prefixes = cls.env_prefixes()
    unknown = [
        UnknownVariable(name, suggest_variable(name, own))
        for name in sorted(env)
        if name.startswith(prefixes) and name not in own
    ]
    if unknown:
        raise _unknown_error(unknown)
    values: dict[str, Any] = _read(cls, env)
    for field_name, nested in cls.env_nested().items():
        nested_values = _read(nested, env)
        if nested_values:
            values[field_name] = nested_values
    if drop_empty:
        values = {k: v for k, v in values.items() if v != ""}
    try:
        return build(values)
    except ConfigurationError as err:
        raise ConfigurationError(_with_variable_names(err.message, cls, env)) from err


def _read(cls: type[EnvSettings], env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {key: env[var] for key, var in cls.env_names().items() if var in env}
    for alias, key in cls.ENV_ALIASES.items():
        if env.get(alias):
            values.setdefault(key, env[alias])
    return values


def _with_variable_names(message: str, cls: type[EnvSettings], env: Mapping[str, str]) -> str:
    """Replace each quoted field name in ``message`` by the variable it was read from."""
    names: dict[str, str] = {}
    for config in (*cls.env_nested().values(), cls):
        for key, var in config.env_names().items():
            names[key] = var
        for alias, key in config.ENV_ALIASES.items():
            if env.get(alias) and names.get(key) not in env:
                names[key] = alias
    for key in sorted(names, key=len, reverse=True):
        message = message.replace(f'"{key}"', f'"{names[key]}"')
    return message


def known_variables() -> frozenset[str]:
    """Every ``RPKIT_*`` variable some part of rpkit reads (the sample app's included)."""
    return _known()[0]


def _known() -> tuple[frozenset[str], tuple[str, ...]]:
    names: set[str] = set()
    missing: list[str] = []
    for module_name in _DECLARING_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
            continue
        names |= module.env_variables()
    return frozenset(names), tuple(missing)


def find_unknown_variables(names: Iterable[str]) -> tuple[UnknownVariable, ...]:
    """The ``RPKIT_*`` names among ``names`` that no part of rpkit reads, with suggestions."""
    known, _ = _known()
    return tuple(
        UnknownVariable(name, suggest_variable(name, known))
        for name in sorted(set(names))
        if name.startswith(ENV_NAMESPACE) and name not in known
    )


def check_variables(names: Iterable[str]) -> None:
    """Refuse any ``RPKIT_*`` name in ``names`` that no part of rpkit reads.

    Pass the environment's keys (and a Flask app's ``RPKIT_*`` config keys). Otherwise a
    typo such as ``RPKIT_REDIS_ULR`` leaves the app running on its default, silently.

    Raises:
        UnknownSettingError: one sentence per unknown variable, with a "did you mean".
    """
    unknown = find_unknown_variables(names)
    if unknown:
        _, missing = _known()
        note = f" (not checked against {', '.join(missing)}: not installed)" if missing else ""
        raise _unknown_error(unknown, note)
