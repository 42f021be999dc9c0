"""Freshness deadlines and volume bands per asset, from ``config/monitoring.yaml``.

One file for every source, keyed by cadence and by asset key
("tascomi/snapshot/appeals_snapshot"),
so a new table or dataset is monitored with the defaults and a deadline or band is changed
without touching code. Read with the bounded loader (:mod:`lbh_platform.common.yaml_loader`).
No Dagster here.
"""

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.yaml_loader import load_yaml, shown
from lbh_platform.config import CONFIG_DIR

DEFAULT_MONITORING_FILE = CONFIG_DIR / "monitoring.yaml"
CADENCES = ("daily", "weekly", "weekdays")
TIMEZONE = "Europe/London"
_CRON_FIELD = re.compile(r"^[0-9*,/\-]+$")


@dataclass(frozen=True)
class VolumeBand:
    """How a partition's row count is judged against its history (see monitoring.yaml)."""

    window: int = 28
    min_history: int = 5
    lower: float = 0.2
    upper: float = 5.0


def _default_deadlines() -> dict[str, str]:
    return {"daily": "0 6 * * *", "weekly": "0 6 * * 0", "weekdays": "0 6 * * 1-5"}


@dataclass(frozen=True)
class MonitoringConfig:
    deadlines: dict[str, str] = field(default_factory=_default_deadlines)
    deadline_overrides: dict[str, str] = field(default_factory=dict)
    volume: VolumeBand = VolumeBand()
    volume_overrides: dict[str, VolumeBand] = field(default_factory=dict)

    def deadline(self, asset: str, cadence: str) -> str:
        """The freshness deadline cron of ``asset`` ("source/stage/table") on ``cadence``."""
        return self.deadline_overrides.get(asset) or self.deadlines[cadence]

    def band(self, asset: str) -> VolumeBand:
        return self.volume_overrides.get(asset, self.volume)

    def unknown_overrides(self, assets: set[str]) -> list[str]:
        """Overridden asset keys that name no asset (a typo, or a key from before the
        ``<table>_<stage>`` rule): they would be ignored without a word."""
        named = set(self.deadline_overrides) | set(self.volume_overrides)
        return sorted(named - assets)


def _cron(value: object, where: str) -> str:
    parts = value.split() if isinstance(value, str) else []
    if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
        raise ConfigurationError(
            f'{where}: expected a five-field cron such as "0 6 * * *", got {shown(value)}'
        )
    return value


def _band(entry: object, base: VolumeBand, where: str) -> VolumeBand:
    if not isinstance(entry, dict):
        raise ConfigurationError(
            f"{where}: expected a mapping like {{lower: 0.1}}, got {shown(entry)}"
        )
    allowed = {f.name for f in fields(VolumeBand)}
    unknown = set(entry) - allowed
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown field(s) {shown(sorted(map(str, unknown)))}; "
            f"allowed: {sorted(allowed)}"
        )
    band = replace(base, **entry)
    for name in ("window", "min_history"):
        value = getattr(band, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigurationError(
                f"{where}: {name} must be a whole number >= 1, got {shown(value)}"
            )
    for name in ("lower", "upper"):
        if not isinstance(getattr(band, name), int | float) or getattr(band, name) < 0:
            raise ConfigurationError(f"{where}: {name} must be a number >= 0")
    if band.lower > band.upper:
        raise ConfigurationError(f"{where}: lower ({band.lower}) is above upper ({band.upper})")
    return band


def _section(document: dict, name: str, source: Path | str) -> dict:
    section = document.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigurationError(f"{source}: '{name}' must be a mapping")
    return section


def monitoring_file() -> Path:
    """``$LBH_MONITORING_FILE`` or the shipped file."""
    return Path(registry.get("LBH_MONITORING_FILE") or DEFAULT_MONITORING_FILE)


def load_monitoring_config(path: Path | str | None = None) -> MonitoringConfig:
    """Read and validate the file ``path``, ``$LBH_MONITORING_FILE`` or the shipped one."""
    path = Path(path) if path else monitoring_file()
    try:
        document = load_yaml(path) or {}
    except FileNotFoundError as exc:
        raise ConfigurationError(f"monitoring configuration not found: {path}") from exc
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path}: expected 'freshness:' and 'volume:' mappings")
    freshness, volume = _section(document, "freshness", path), _section(document, "volume", path)
    deadlines = _default_deadlines()
    for cadence, cron in _section(freshness, "deadlines", f"{path} freshness").items():
        if cadence not in CADENCES:
            raise ConfigurationError(
                f"{path} freshness.deadlines: unknown cadence {shown(cadence)}; allowed: {CADENCES}"
            )
        deadlines[cadence] = _cron(cron, f"{path} freshness.deadlines.{cadence}")
    overrides = {
        str(asset): _cron(cron, f"{path} freshness.overrides[{shown(asset)}]")
        for asset, cron in _section(freshness, "overrides", f"{path} freshness").items()
    }
    band = _band(volume.get("defaults") or {}, VolumeBand(), f"{path} volume.defaults")
    bands = {
        str(asset): _band(entry, band, f"{path} volume.overrides[{shown(asset)}]")
        for asset, entry in _section(volume, "overrides", f"{path} volume").items()
    }
    return MonitoringConfig(deadlines, overrides, band, bands)
