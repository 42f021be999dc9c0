"""The Tascomi table list: one declarative entry per API resource.

Everything downstream (assets, checks, schedules) is generated from these entries, so adding a
table is adding one line to ``config/tascomi_tables.yaml``. Every entry is validated when the
file is loaded (names and overrides are identifiers, no unknown field), so a bad override fails
the load with the file and the entry named, not a run half-way through. The file is read with
the bounded loader (:mod:`lbh_platform.common.yaml_loader`): no alias bomb, deep nesting or
repeated key gets as far as the entries.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.yaml_loader import load_yaml, shown
from lbh_platform.config import CONFIG_DIR

Cadence = Literal["daily", "weekly"]
DEFAULT_TABLES_FILE = CONFIG_DIR / "tascomi_tables.yaml"
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A table name becomes catalogue tables (``api_response_<t>``, ``increment_<t>``), folders,
# asset keys and check names (``tascomi_<t>_increment_checks``): at most 64 characters keeps
# every one far inside Glue's 255 and a file name's 255 bytes.
MAX_TABLE_NAME_LENGTH = 64
MAX_COLUMN_NAME_LENGTH = 255  # Glue's limit for a column name
_IDENTIFIER = "a lower-case identifier (letters, digits and _, starting with a letter)"
_FIELDS = {"name", "cadence", "id_column", "completeness_column", "recast"}
_SECTIONS = {"tables", "paused"}
# The one rule for pausing, quoted wherever a message or document mentions it.
PAUSED_RULE = (
    "a table under 'paused:' is kept typed but not ingested; to resume it, move its name from "
    "'paused:' to 'tables:'"
)


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


def _too_long(name: str, limit: int, why: str) -> str | None:
    if len(name) <= limit:
        return None
    return f"must be at most {limit} characters ({why}), got {len(name)}: {shown(name)}"


def table_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a table name (``must be ...``), or None when it can."""
    if not isinstance(name, str) or not TABLE_NAME.match(name):
        return f"must be {_IDENTIFIER}, got {shown(name)}"
    return _too_long(name, MAX_TABLE_NAME_LENGTH, "it is part of catalogue, folder and asset names")


def column_name_problem(name: str) -> str | None:
    """Why an identifier cannot be a column name for its length, or None."""
    return _too_long(name, MAX_COLUMN_NAME_LENGTH, "Glue's limit for a column name")


def _parse_entry(entry: object, source: Path, position: int) -> TascomiTable:
    where = f"{source} entry {position}"
    if not isinstance(entry, dict):
        raise ConfigurationError(
            f"{where}: expected a mapping like {{name: appeals}}, got {shown(entry)}"
        )
    unknown = set(entry) - _FIELDS
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown field(s) {shown(sorted(map(str, unknown)))}; "
            f"allowed: {sorted(_FIELDS)}"
        )
    name = entry.get("name")
    problem = table_name_problem(name)
    if problem:
        raise ConfigurationError(f"{where}: 'name' {problem}")
    cadence = entry.get("cadence", "daily")
    if cadence not in ("daily", "weekly"):
        raise ConfigurationError(
            f"{where} ({name}): cadence must be daily or weekly, got {shown(cadence)}"
        )
    recast = entry.get("recast", True)
    if not isinstance(recast, bool):
        raise ConfigurationError(
            f"{where} ({name}): recast must be true or false, got {shown(recast)}"
        )
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
            f"with a digit), got {shown(value)}"
        )
    problem = column_name_problem(value)
    if problem:
        raise ConfigurationError(f"{where}: {field} {problem}")
    return value


@dataclass(frozen=True)
class TableList:
    """The table list file: tables ingested, and tables ``paused`` (see PAUSED_RULE)."""

    tables: list[TascomiTable]
    paused: frozenset[str]
    source: Path


def load_table_list(path: Path | str = DEFAULT_TABLES_FILE) -> TableList:
    """Read and validate the whole file; fails with a message saying what to fix."""
    path = Path(path)
    try:
        document = load_yaml(path)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"Tascomi table list not found: {path}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("tables"), list):
        raise ConfigurationError(f"{path}: expected a top-level 'tables:' list")
    unknown = set(document) - _SECTIONS
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown top-level key(s) {shown(sorted(map(str, unknown)))}; "
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
        problem = table_name_problem(name)
        if problem:
            raise ConfigurationError(f"{path} paused entry {position}: {problem}")
        if name in seen:
            raise ConfigurationError(
                f"{path}: table {name!r} is both in 'tables:' and 'paused:'; keep one "
                f"({PAUSED_RULE})"
            )
    return TableList(tables, frozenset(paused), path)


def load_tables(path: Path | str = DEFAULT_TABLES_FILE) -> list[TascomiTable]:
    """The validated tables of the list (see :func:`load_table_list`)."""
    return load_table_list(path).tables
