"""The Tascomi table list: one declarative entry per API resource.

Everything downstream (assets, checks, schedules) is generated from these entries, so adding a
table is adding one line to ``config/tascomi_tables.yaml``.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.config import CONFIG_DIR

Cadence = Literal["daily", "weekly"]
DEFAULT_TABLES_FILE = CONFIG_DIR / "tascomi_tables.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FIELDS = {"name", "cadence", "id_column", "completeness_column", "recast"}


@dataclass(frozen=True)
class TascomiTable:
    """One Tascomi resource and how the pipeline treats it."""

    name: str
    cadence: Cadence = "daily"
    id_column: str = "id"
    completeness_column: str = "id"
    recast: bool = True

    @property
    def is_static(self) -> bool:
        return self.cadence == "weekly"


def _parse_entry(entry: object, source: Path, position: int) -> TascomiTable:
    where = f"{source} entry {position}"
    if not isinstance(entry, dict):
        raise ConfigurationError(
            f"{where}: expected a mapping like {{name: appeals}}, got {entry!r}"
        )
    unknown = set(entry) - _FIELDS
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(f"{where}: 'name' must be a lower-case identifier, got {name!r}")
    cadence = entry.get("cadence", "daily")
    if cadence not in ("daily", "weekly"):
        raise ConfigurationError(
            f"{where} ({name}): cadence must be daily or weekly, got {cadence!r}"
        )
    recast = entry.get("recast", True)
    if not isinstance(recast, bool):
        raise ConfigurationError(f"{where} ({name}): recast must be true or false, got {recast!r}")
    id_column = entry.get("id_column", "id")
    return TascomiTable(
        name=name,
        cadence=cadence,
        id_column=id_column,
        completeness_column=entry.get("completeness_column", id_column),
        recast=recast,
    )


def load_tables(path: Path | str = DEFAULT_TABLES_FILE) -> list[TascomiTable]:
    """Read and validate the table list; fails with a message saying what to fix."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigurationError(f"Tascomi table list not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("tables"), list):
        raise ConfigurationError(f"{path}: expected a top-level 'tables:' list")
    tables = [_parse_entry(e, path, i + 1) for i, e in enumerate(document["tables"])]
    seen: set[str] = set()
    for table in tables:
        if table.name in seen:
            raise ConfigurationError(f"{path}: table {table.name!r} is listed twice")
        seen.add(table.name)
    return tables
