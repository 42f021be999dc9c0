"""The engine seam: the transforms the asset factories call, for any dataframe engine.

An engine reads partitions, runs the Tascomi transforms and the event application of an
event-streamed source (described by the ``EventModel`` its stage passes), and
publishes partitions in the shared layout (Hive-style folders, same column names and types),
so a table can move between engines and a snapshot written by one can be the base of the next
day's on the other.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lbh_platform.common.event_state import EventModel
from lbh_platform.storage.partitioned_table import PartitionedTable, WriteResult

if TYPE_CHECKING:
    from lbh_platform.history.engine import HistoryOps


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


@dataclass(frozen=True)
class WrittenSnapshot:
    """A snapshot partition applied and published (:meth:`Engine.write_snapshot`)."""

    written: WriteResult
    base_rows: int
    increment_rows: int
    replaced_rows: int
    inserted_rows: int
    rows_without_id: int

    @classmethod
    def published(cls, written: WriteResult, snapshot: Snapshot) -> "WrittenSnapshot":
        """An in-memory ``snapshot`` once ``written``: its counts, and where it went."""
        return cls(
            written,
            snapshot.base_rows,
            snapshot.increment_rows,
            snapshot.replaced_rows,
            snapshot.inserted_rows,
            snapshot.rows_without_id,
        )


@dataclass(frozen=True)
class AppliedEvents:
    """Change events applied to a state (the rules of :mod:`lbh_platform.common.event_state`).

    ``state``: the state columns (the model's entity schema plus ``last_event_time/id/action``), and
    the ``snapshot_*`` columns when a snapshot value was given; ``tombstones``: the deletions
    this application recorded (id, deleted_at, event_id, entity_known); ``counts``: events per
    outcome (every key of ``OUTCOMES``); ``unknown_entity_events``: (event_id, id, action) of
    the events applied to entities the state did not know, in event order.
    """

    state: Any
    tombstones: Any
    counts: dict[str, int]
    unknown_entity_events: list[dict[str, str]]
    base_rows: int
    event_rows: int


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

    def write_snapshot(
        self,
        snapshots: PartitionedTable,
        base_value: str | None,
        increments: Any,
        id_column: str,
        snapshot_value: str,
        notes: dict[str, str] | None = None,
    ) -> WrittenSnapshot:
        """:meth:`apply_increment` to partition ``base_value`` of ``snapshots`` (none: the
        first snapshot), then :meth:`write` as partition ``snapshot_value`` with ``notes`` in
        its footer: the same rows, but an engine may stream the previous snapshot instead of
        holding it."""

    def apply_events(
        self,
        base: Any,
        events: Any,
        tombstones: Any | None = None,
        *,
        model: EventModel,
        snapshot_value: str | None = None,
        what: str = "state",
    ) -> AppliedEvents:
        """Apply ``model``'s change ``events`` to ``base`` (an extract or a snapshot; other columns
        are dropped, absent ones are null), in event-time order, skipping stale and
        already-applied events; ``tombstones`` are earlier deletions (id, deleted_at,
        event_id; ``None`` or an empty frame for none). With ``snapshot_value`` (YYYYMMDD) the
        state gets the ``snapshot_year/month/day/date`` columns."""

    def history(self) -> "HistoryOps":
        """The engine's history operations (:mod:`lbh_platform.history.engine`)."""
