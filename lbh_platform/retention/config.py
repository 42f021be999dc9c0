"""The retention file (``config/retention.yaml``, or ``LBH_RETENTION_CONFIG``): defaults and
per-table overrides, read with the bounded loader; every mistake names the file and entry."""

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.yaml_loader import load_yaml, shown
from lbh_platform.config import CONFIG_DIR
from lbh_platform.retention.policy import RetentionPolicy
from lbh_platform.retention.settings import CONFIG

DEFAULT_RETENTION_FILE = CONFIG_DIR / "retention.yaml"
_FIELDS = {"daily_days", "month_ends", "month_end_days", "enabled"}


@dataclass(frozen=True)
class RetentionConfig:
    defaults: RetentionPolicy = RetentionPolicy()
    overrides: dict[str, RetentionPolicy] = field(default_factory=dict)  # in file order

    def policy_for(self, source: str, table: str) -> RetentionPolicy:
        """The policy of ``<source>/<table>``: an exact entry, else the first matching
        pattern, else the defaults."""
        name = f"{source}/{table}"
        if name in self.overrides:
            return self.overrides[name]
        for pattern, policy in self.overrides.items():
            if fnmatch.fnmatchcase(name, pattern):
                return policy
        return self.defaults


def _policy(entry: object, base: RetentionPolicy, where: str) -> RetentionPolicy:
    if entry is None:
        return base
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where}: expected a mapping of {sorted(_FIELDS)}")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown field(s) {sorted(map(str, unknown))}; fields are {sorted(_FIELDS)}"
        )
    values: dict[str, object] = {}
    for name in ("daily_days", "month_end_days"):
        if name in entry:
            value = entry[name]
            if value is None and name == "month_end_days":
                values[name] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"{where}: {name} must be a whole number of days (1 or more), got "
                    f"{shown(value)}"
                )
            values[name] = value
    for name in ("month_ends", "enabled"):
        if name in entry:
            if not isinstance(entry[name], bool):
                raise ConfigurationError(
                    f"{where}: {name} must be true or false, got {shown(entry[name])}"
                )
            values[name] = entry[name]
    return replace(base, **values)  # type: ignore[arg-type]


def parse_retention(document: object, source: Path | str) -> RetentionConfig:
    if document is None:
        return RetentionConfig()
    if not isinstance(document, Mapping) or set(document) - {"defaults", "tables"}:
        raise ConfigurationError(f"{source}: expected a mapping with defaults and tables")
    defaults = _policy(document.get("defaults"), RetentionPolicy(), f"{source}: defaults")
    tables = document.get("tables") or {}
    if not isinstance(tables, Mapping):
        raise ConfigurationError(f"{source}: tables must map '<source>/<table>' to fields")
    overrides = {}
    for name, entry in tables.items():
        if not isinstance(name, str) or "/" not in name:
            raise ConfigurationError(
                f"{source}: tables: {shown(name)} is not '<source>/<table>' (or a pattern)"
            )
        overrides[name] = _policy(entry, defaults, f"{source}: tables: {name}")
    return RetentionConfig(defaults, overrides)


def load_retention(path: Path | str | None = None) -> RetentionConfig:
    """The retention file: ``path``, else ``LBH_RETENTION_CONFIG``, else the shipped one."""
    chosen = Path(path or registry.get(CONFIG) or DEFAULT_RETENTION_FILE)
    try:
        document = load_yaml(chosen)
    except FileNotFoundError:
        raise ConfigurationError(
            f"retention file {chosen} does not exist (set {CONFIG} or create it)"
        ) from None
    return parse_retention(document, chosen)
