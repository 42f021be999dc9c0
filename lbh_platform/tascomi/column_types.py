"""The column-type catalogue: which Tascomi columns are typed, and as what.

Columns not in the catalogue stay strings. The catalogue lives in
``config/tascomi_column_types.yaml`` as ``<table>: {<column>: <type>}``.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.config import CONFIG_DIR

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


class ColumnTypeCatalogue:
    """Typed columns per table; an unknown table simply has no typed columns."""

    def __init__(self, types: Mapping[str, Mapping[str, str]]):
        self._types = {table: dict(columns) for table, columns in types.items()}

    @classmethod
    def load(cls, path: Path | str = DEFAULT_CATALOGUE_FILE) -> "ColumnTypeCatalogue":
        path = Path(path)
        try:
            document = yaml.load(
                path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            )
        except FileNotFoundError as exc:
            raise ConfigurationError(f"column-type catalogue not found: {path}") from exc
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(document, dict):
            raise ConfigurationError(f"{path}: expected '<table>: {{<column>: <type>}}' mappings")
        for table, columns in document.items():
            if not isinstance(columns, dict):
                raise ConfigurationError(
                    f"{path}: table {table!r} must map column names to types, got {columns!r}"
                )
            for column, column_type in columns.items():
                if column_type not in COLUMN_TYPES:
                    raise ConfigurationError(
                        f"{path}: {table}.{column} has unknown type {column_type!r}; "
                        f"use one of {', '.join(COLUMN_TYPES)}"
                    )
        return cls(document)

    def columns(self, table: str) -> dict[str, str]:
        """``{column: type}`` for one table (empty when the table has no typed columns)."""
        return dict(self._types.get(table, {}))

    def tables(self) -> list[str]:
        return sorted(self._types)
