"""The one registry of settings: every environment variable the platform reads, declared once
with its default, meaning and whether it is a secret.

It is the single source of what the code reads (only this module touches ``os.environ``; a
read of an undeclared name is an error), of the configuration table in
``docs/CONFIGURATION.md`` and of the environment the production services receive
(``deploy/docker-compose.yaml``); a test fails when the three disagree. A source declares its
own settings in a ``settings`` module of its package; :func:`every_setting` finds them all.
"""

import importlib
import os
import pkgutil
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SCOPES = ("platform", "sources", "deployment", "monitoring", "demo")
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Setting:
    """One environment variable.

    ``default`` is the value used when it is unset or blank (None: unset means "not set");
    ``shown_default`` describes a default that is computed (``"beside the raw zone"``).
    ``deployed``: forwarded to the production services, as ``${NAME:-<compose_default>}``
    (empty: the registry's default applies). ``pattern``: the name is a family
    (``LBH_SPARK_CONF_<key>``), declared by its prefix.
    """

    name: str
    meaning: str
    default: str | None = None
    shown_default: str | None = None
    secret: bool = False
    scope: str = "platform"
    deployed: bool = True
    pattern: bool = False
    compose_default: str = ""
    documented: bool = True  # False: declared by a configuration other than the shipped one

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"setting name {self.name!r} is not an environment variable name")
        if self.scope not in SCOPES:
            raise ValueError(f"setting {self.name}: scope must be one of {SCOPES}")
        if self.secret and self.default is not None:
            raise ValueError(f"setting {self.name}: a secret has no default")

    @property
    def documented_default(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        return "unset" if self.default is None else f"`{self.default}`"


_REGISTRY: dict[str, Setting] = {}


def declare(*settings: Setting) -> tuple[Setting, ...]:
    """Add settings to the registry (declaring one name twice differently is an error)."""
    for setting in settings:
        known = _REGISTRY.get(setting.name)
        if known is not None and known != setting:
            raise ValueError(f"setting {setting.name} is declared twice, differently")
        _REGISTRY[setting.name] = setting
    return settings


def _find(name: str) -> Setting | None:
    setting = _REGISTRY.get(name)
    if setting is not None:
        return setting
    for family in _REGISTRY.values():
        if family.pattern and name.startswith(family.name):
            return family
    return None


def declared(name: str) -> Setting:
    """The declaration of ``name`` (a family member resolves to its family); every package's
    declarations are loaded the first time a name is not yet known."""
    setting = _find(name)
    if setting is None:
        every_setting()
        setting = _find(name)
    if setting is not None:
        return setting
    raise KeyError(
        f"{name} is not a declared setting: declare it (lbh_platform.settings_registry) in "
        "the settings module of the package that reads it"
    )


def environ(given: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """The environment settings are read from: ``given`` (tests, a child's environment) or
    the process's own. The one place the process environment is read."""
    return os.environ if given is None else given


def process_environment() -> dict[str, str]:
    """A copy of the whole process environment, for starting child processes."""
    return dict(os.environ)


def set_default(name: str, value: str) -> str:
    """Give a declared setting a value for this process and its children unless it has one
    (the demo points the pipeline at its simulators and local zones)."""
    declared(name)
    return os.environ.setdefault(name, value)


def put(name: str, value: str) -> None:
    """Set a declared setting for this process and its children (the demo's stand-ins)."""
    declared(name)
    os.environ[name] = value


def get(name: str, given: Mapping[str, str] | None = None) -> str | None:
    """The value of declared setting ``name``: set and not blank, else its default."""
    setting = declared(name)
    value = environ(given).get(name)
    if value is not None and value.strip():
        return value
    return None if setting.pattern else setting.default


def family(prefix: str, given: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every set member of a declared family, by the rest of its name."""
    setting = declared(prefix)
    if not setting.pattern:
        raise KeyError(f"{prefix} is not a family of settings")
    return {
        name[len(prefix) :]: value
        for name, value in environ(given).items()
        if name.startswith(prefix) and value.strip()
    }


def every_setting() -> list[Setting]:
    """Every documented setting, after importing the ``settings`` module of every package of
    the platform (so a source's declarations are found without a list to keep)."""
    import lbh_platform

    for module in pkgutil.walk_packages(lbh_platform.__path__, "lbh_platform."):
        if module.name.rsplit(".", 1)[-1] == "settings":
            importlib.import_module(module.name)
    return sorted(
        (s for s in _REGISTRY.values() if s.documented),
        key=lambda s: (SCOPES.index(s.scope), s.name),
    )


def markdown_table(settings: Iterable[Setting]) -> str:
    """The configuration table of ``docs/CONFIGURATION.md``, one section per scope."""
    lines: list[str] = []
    by_scope: dict[str, list[Setting]] = {}
    for setting in settings:
        by_scope.setdefault(setting.scope, []).append(setting)
    for scope in SCOPES:
        if scope not in by_scope:
            continue
        lines += [f"### {scope.capitalize()}", "", "| variable | default | meaning |"]
        lines.append("|---|---|---|")
        for s in by_scope[scope]:
            name = f"`{s.name}<…>`" if s.pattern else f"`{s.name}`"
            meaning = s.meaning + (" **Secret**: never logged or shown." if s.secret else "")
            lines.append(f"| {name} | {s.documented_default} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


def flag(name: str, given: Mapping[str, str] | None = None, default: bool | None = None) -> bool:
    """A true/false setting; ``default`` overrides a declared default that is computed."""
    from lbh_platform.common.errors import ConfigurationError

    text = (get(name, given) or "").strip().lower()
    if not text:
        return bool(default)
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {text!r}")


def number(name: str, given: Mapping[str, str] | None = None, kind: type = float) -> float:
    """A positive number (``kind`` int: a whole one) from ``name``, else its declared default."""
    import math

    from lbh_platform.common.errors import ConfigurationError

    text = (get(name, given) or "").strip()
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        whole = "whole " if kind is int else ""
        raise ConfigurationError(f"{name} must be a positive {whole}number, got {text!r}")
    return value
