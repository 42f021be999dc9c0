"""What a history needs from an engine: the data work of each operation, nothing of planning.

:mod:`lbh_platform.history.maintain` decides which batches, segments and names; an engine
(``Engine.history()``: :mod:`lbh_platform.engines.arrow_history`,
:mod:`lbh_platform.engines.spark_history`) reads and writes the rows. ``frame`` is the engine's
own table type. Both engines give the same rows, types and counts; only row groups differ.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from lbh_platform.history.batches import Batch
from lbh_platform.storage.partitioned_table import PartitionedTable, WriteResult


@dataclass(frozen=True)
class DayWritten:
    written: WriteResult
    increment_rows: int
    versions: int
    tombstones: int
    rows_without_id: int


@dataclass(frozen=True)
class Compacted:
    """A major compaction: the versions that ended since the base moved to ``closed`` (None
    when none did), the current ones rewritten as the new ``base``."""

    closed: WriteResult | None
    base: WriteResult
    rows_read: int


@dataclass(frozen=True)
class Rebuilt:
    segments: list[WriteResult]
    increment_rows: int
    versions: int
    current: int
    rows_without_id: int


class HistoryOps(Protocol):
    def write_day(
        self,
        history: PartitionedTable,
        name: str,
        increments: Any,
        id_column: str,
        valid_from: str,
        deleted: pa.Array | None,
        notes: dict[str, str],
        like: str | None = None,
    ) -> DayWritten:
        """Segment ``name``: ``increments`` deduplicated as the snapshot does (latest
        ``last_updated`` per id, ties to the newest import, then the later page), open from
        ``valid_from``, plus a tombstone for each of the ``deleted`` ids (an id both changed
        and deleted is an error). With ``like`` (a live segment), ids are cast to its id type,
        and a batch whose ids cannot be is refused, as the snapshot refuses them."""

    def merge_open(
        self,
        history: PartitionedTable,
        name: str,
        sources: list[str],
        id_column: str,
        notes: dict[str, str],
    ) -> WriteResult:
        """Segment ``name``: the rows of the open ``sources`` (in ``valid_from`` order)."""

    def compact(
        self,
        history: PartitionedTable,
        sources: list[str],
        id_column: str,
        closed: tuple[str, dict[str, str]],
        base: tuple[str, dict[str, str]],
    ) -> Compacted:
        """The open ``sources`` resolved (:func:`lbh_platform.history.exact.resolve`): ended
        versions to segment ``closed[0]`` with their ``valid_to``, current ones to ``base[0]``
        (published last: its notes commit), both sorted by ``valid_from``."""

    def rebuild(
        self,
        history: PartitionedTable,
        increments: PartitionedTable,
        batches: list[Batch],
        id_column: str,
        deleted: dict[str, pa.Array],
        operation: str,
        closed_share: float,
        base_notes: dict[str, str],
    ) -> Rebuilt:
        """The whole history from ``batches`` of ``increments`` (and the ids each batch
        deleted, by ``valid_from``) in one pass: closed segments of about ``closed_share`` of
        the current rows each, then the base (its notes commit)."""

    def as_of(
        self, history: PartitionedTable, segments: list[str], id_column: str, valid_on: str
    ) -> Any:
        """The records as of day ``valid_on`` (YYYYMMDD): the record columns only, one row per
        id, as snapshot ``valid_on`` holds them."""

    def versions(self, history: PartitionedTable, segments: list[str], id_column: str) -> Any:
        """Every version once, with its exact ``valid_to``, ``is_deleted`` and ``is_current``."""
