"""The engine seam: the transforms the asset factories call, for any dataframe engine.

An engine reads partitions, runs the Tascomi transforms and publishes partitions in the
shared layout (Hive-style folders, same column names and types), so a table can move between
engines and a snapshot written by one can be the base of the next day's on the other.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

from lbh_platform.storage.partitioned_table import PartitionedTable, WriteResult


@dataclass(frozen=True)
class Parsed:
    frame: Any
    rows_in: int
    non_200_rows: int
    exact_duplicates_dropped: int


@dataclass(frozen=True)
class Recast:
    frame: Any
    cast_failures: dict[str, int] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    frame: Any
    base_rows: int
    increment_rows: int
    replaced_rows: int
    inserted_rows: int
    rows_without_id: int


class Engine(Protocol):
    """What a stage needs from an engine; ``frame`` is the engine's own table type."""

    name: str

    def read(self, table: PartitionedTable, values: list[str]) -> Any:
        """The union of these partitions (columns may differ), partition column included."""

    def write(
        self, table: PartitionedTable, value: str, frame: Any, notes: dict[str, str] | None = None
    ) -> WriteResult:
        """Publish ``frame`` as partition ``value`` atomically; ``notes`` go in the footer."""

    def count(self, frame: Any) -> int: ...

    def columns(self, frame: Any) -> list[str]: ...

    def parse(self, raw: Any, resource: str) -> Parsed: ...

    def recast(self, parsed: Any, column_types: dict[str, str]) -> Recast: ...

    def apply_increment(
        self, base: Any | None, increments: Any, id_column: str, snapshot_value: str
    ) -> Snapshot: ...
