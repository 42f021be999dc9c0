"""The column-type catalogue: which Tascomi columns are typed, and as what.

Columns not in the catalogue stay strings. The catalogue lives in
``config/tascomi_column_types.yaml`` as ``<table>: {<column>: <type>}``; a table entry may also
declare its personal columns under the reserved key ``personal_data:`` (a list of field paths,
docs/PERSONAL_DATA.md), read with :func:`lbh_platform.erasure.parse_personal_data`. Table and
column names
are validated as identifiers when it is loaded (read with the bounded loader of
:mod:`lbh_platform.common.yaml_loader`), and every catalogue table must be in the table list
(ingested or ``paused``): :func:`check_catalogue_tables`.
"""

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.yaml_loader import load_yaml, shown
from lbh_platform.config import CONFIG_DIR
from lbh_platform.erasure.personal import PersonalData, parse_personal_data
from lbh_platform.tascomi.tables import (
    COLUMN_NAME,
    PAUSED_RULE,
    TABLE_NAME,
    column_name_problem,
    table_name_problem,
)

ColumnType = Literal["integer", "long", "float", "double", "boolean", "timestamp", "date"]
COLUMN_TYPES: tuple[str, ...] = (
    "integer",
    "long",
    "float",
    "double",
    "boolean",
    "timestamp",
    "date",
)
DEFAULT_CATALOGUE_FILE = CONFIG_DIR / "tascomi_column_types.yaml"
RAW_STAGE = "api_response"
PERSONAL_KEY = "personal_data"  # reserved in a table entry: its personal field paths


class ColumnTypeCatalogue:
    """Typed columns per table; an unknown table simply has no typed columns (nor personal
    data declared)."""

    def __init__(
        self,
        types: Mapping[str, Mapping[str, str]],
        personal: Mapping[str, PersonalData] | None = None,
    ):
        self._types = {table: dict(columns) for table, columns in types.items()}
        self._personal = {table: p for table, p in (personal or {}).items() if p}

    @classmethod
    def load(cls, path: Path | str = DEFAULT_CATALOGUE_FILE) -> "ColumnTypeCatalogue":
        path = Path(path)
        try:
            document = load_yaml(path)
        except FileNotFoundError as exc:
            raise ConfigurationError(f"column-type catalogue not found: {path}") from exc
        if not isinstance(document, dict):
            raise ConfigurationError(f"{path}: expected '<table>: {{<column>: <type>}}' mappings")
        types: dict[str, dict[str, str]] = {}
        personal: dict[str, PersonalData] = {}
        for table, columns in document.items():
            if not isinstance(table, str) or not TABLE_NAME.match(table):
                raise ConfigurationError(
                    f"{path}: table name {shown(table)} must be a lower-case identifier "
                    "(letters, digits and _, starting with a letter)"
                )
            problem = table_name_problem(table)
            if problem:
                raise ConfigurationError(f"{path}: table name {problem}")
            if not isinstance(columns, dict):
                raise ConfigurationError(
                    f"{path}: table {table!r} must map column names to types, got {shown(columns)}"
                )
            columns = dict(columns)
            personal[table] = parse_personal_data(
                columns.pop(PERSONAL_KEY, None), f"{path}: table {table}"
            )
            types[table] = columns
            for column, column_type in columns.items():
                if not isinstance(column, str) or not COLUMN_NAME.match(column):
                    raise ConfigurationError(
                        f"{path}: {table}: column name {shown(column)} must be an identifier "
                        "(letters, digits and _, not starting with a digit)"
                    )
                problem = column_name_problem(column)
                if problem:
                    raise ConfigurationError(f"{path}: {table}: column name {problem}")
                if not isinstance(column_type, str) or column_type not in COLUMN_TYPES:
                    raise ConfigurationError(
                        f"{path}: {table}.{column} has unknown type {shown(column_type)}; "
                        f"use one of {', '.join(COLUMN_TYPES)}"
                    )
        return cls(types, personal)

    def columns(self, table: str) -> dict[str, str]:
        """``{column: type}`` for one table (empty when the table has no typed columns)."""
        return dict(self._types.get(table, {}))

    def personal(self, table: str, stage: str | None = None) -> PersonalData:
        """The table's declared personal columns and fields (empty when none). In the
        ``api_response`` stage each record is JSON text in a column named after the table:
        that whole column is personal when the table declares any."""
        declared = self._personal.get(table, PersonalData())
        if stage == RAW_STAGE and declared:
            return PersonalData().with_columns(table)
        return declared

    def personal_tables(self) -> list[str]:
        """Tables declaring personal data."""
        return sorted(self._personal)

    def tables(self) -> list[str]:
        return sorted(self._types)


def check_catalogue_tables(
    catalogue_tables: Iterable[str],
    listed: Iterable[str],
    paused: Iterable[str] = (),
    *,
    catalogue_file: Path | str = DEFAULT_CATALOGUE_FILE,
    tables_file: Path | str = "tascomi_tables.yaml",
) -> None:
    """Refuse catalogue tables that the table list neither ingests nor pauses.

    A misspelt table in the catalogue would otherwise be ignored, and the table meant run
    untyped. Tables kept typed but not ingested are listed under ``paused:`` (PAUSED_RULE).
    """
    known = set(listed) | set(paused)
    unknown = sorted(set(catalogue_tables) - known)
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    raise ConfigurationError(
        f"{catalogue_file}: table(s) {', '.join(hints)} typed here but not in the table list "
        f"{tables_file}: fix the name, add the table under 'tables:', or list it under "
        f"'paused:' there ({PAUSED_RULE})"
    )
