"""The Tascomi table list: one declarative entry per API resource.

Everything downstream (assets, checks, schedules) is generated from these entries, so adding a
table is adding one line to ``config/tascomi_tables.yaml``. Every entry is validated when the
file is loaded (names and overrides are identifiers, no unknown field), so a bad override fails
the load with the file and the entry named, not a run half-way through.
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
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = TABLE_NAME
_FIELDS = {"name", "cadence", "id_column", "completeness_column", "recast"}
_SECTIONS = {"tables", "paused"}


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
    id_column = _column(entry, "id_column", "id", f"{where} ({name})")
    return TascomiTable(
        name=name,
        cadence=cadence,
        id_column=id_column,
        completeness_column=_column(entry, "completeness_column", id_column, f"{where} ({name})"),
        recast=recast,
    )


def _column(entry: dict, field: str, default: str, where: str) -> str:
    """An override naming a column: a plain identifier, never SQL or a path."""
    value = entry.get(field, default)
    if not isinstance(value, str) or not COLUMN_NAME.match(value):
        raise ConfigurationError(
            f"{where}: {field} must be a column name (letters, digits and _, not starting "
            f"with a digit), got {value!r}"
        )
    return value


@dataclass(frozen=True)
class TableList:
    """The table list file: tables ingested, and tables ``paused`` (kept in the column-type
    catalogue but not ingested)."""

    tables: list[TascomiTable]
    paused: frozenset[str]
    source: Path


def load_table_list(path: Path | str = DEFAULT_TABLES_FILE) -> TableList:
    """Read and validate the whole file; fails with a message saying what to fix."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigurationError(f"Tascomi table list not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("tables"), list):
        raise ConfigurationError(f"{path}: expected a top-level 'tables:' list")
    unknown = set(document) - _SECTIONS
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown top-level key(s) {sorted(map(str, unknown))}; "
            f"allowed: {sorted(_SECTIONS)}"
        )
    tables = [_parse_entry(e, path, i + 1) for i, e in enumerate(document["tables"])]
    seen: set[str] = set()
    for table in tables:
        if table.name in seen:
            raise ConfigurationError(f"{path}: table {table.name!r} is listed twice")
        seen.add(table.name)
    paused = document.get("paused") or []
    if not isinstance(paused, list):
        raise ConfigurationError(f"{path}: 'paused:' must be a list of table names")
    for position, name in enumerate(paused, start=1):
        if not isinstance(name, str) or not TABLE_NAME.match(name):
            raise ConfigurationError(
                f"{path} paused entry {position}: must be a lower-case identifier, got {name!r}"
            )
        if name in seen:
            raise ConfigurationError(
                f"{path}: table {name!r} is both in 'tables:' and 'paused:'; keep one"
            )
    return TableList(tables, frozenset(paused), path)


def load_tables(path: Path | str = DEFAULT_TABLES_FILE) -> list[TascomiTable]:
    """The validated tables of the list (see :func:`load_table_list`)."""
    return load_table_list(path).tables
