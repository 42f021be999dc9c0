"""A history read off a table's snapshots: for sources whose inputs are not one row per
changed record (an Alloy export, full or joined; an event stream's events over a base that a
re-sync may replace), each snapshot's *changes* are what the history applies.

The changes of snapshot D are the rows of D that are not in the snapshot before it, compared
on every column but the snapshot's own day columns (and, for a source that re-imports every
row daily, the import columns), and the keys the snapshot before it held that D does not: the
deletions. They are kept as two partitioned tables beside the history (``changes`` and
``deleted``, partition D), so the history's daily update, its rebuild in one pass and its
batches are exactly those of a source with increments (:mod:`lbh_platform.history.maintain`);
"as of D" is then snapshot D. A table keyed by several columns (an Alloy joined design: one
row per linked item of a root item) gets one ``history_key`` column joining them.

Cost: one read of snapshot D and of the snapshot before it per day, the cost of building the
snapshot itself for these sources; the history's own update stays proportional to the
changes. Changes are recomputed when either snapshot was written after them (a rebuilt
snapshot), in date order, so the history then rewrites from the first changed day.
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.errors import DataError
from lbh_platform.common.event_state import conform_to
from lbh_platform.common.import_columns import SNAPSHOT_COLUMNS
from lbh_platform.common.stage_report import StageReport
from lbh_platform.history import maintain
from lbh_platform.history.source import HistorySource
from lbh_platform.storage.partitioned_table import PartitionedTable

HISTORY_KEY = "history_key"
CHANGES_OF = "lbh.history.changes_of"  # what a changes partition was computed from
KEY_SEPARATOR = "\x1f"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotHistory:
    """One table whose history follows its snapshots. ``ignore``: columns left out of the
    comparison (a full export's import columns, new on every row every day)."""

    what: str
    snapshots: PartitionedTable
    changes: PartitionedTable
    deleted: PartitionedTable
    history: PartitionedTable
    keys: tuple[str, ...]
    ignore: tuple[str, ...] = ()
    table: str | None = None

    @property
    def id_column(self) -> str:
        return self.keys[0] if len(self.keys) == 1 else HISTORY_KEY

    def source(self) -> HistorySource:
        """The history as :mod:`~lbh_platform.history.maintain` keeps it: every changes
        partition its own batch, dated its snapshot's day."""
        return HistorySource(
            what=self.what,
            history=self.history,
            increments=self.changes,
            id_column=self.id_column,
            deleted=self._deleted_ids,
            table=self.table,
        )

    def _deleted_ids(self, valid_from: str, imports: Sequence[str]) -> pa.Array | None:
        if not self.deleted.exists(valid_from):
            return None
        return self.deleted.read(valid_from, columns=[self.id_column])[
            self.id_column
        ].combine_chunks()


def _with_key(table: pa.Table, keys: tuple[str, ...], what: str) -> pa.Table:
    missing = [k for k in keys if k not in table.column_names]
    if missing:
        raise DataError(f"{what}: key column(s) {missing} are not in the snapshot")
    if len(keys) == 1:
        return table
    parts = [pc.cast(table[k], pa.string()) for k in keys]
    joined = pc.binary_join_element_wise(*parts, KEY_SEPARATOR, null_handling="emit_null")
    return table.append_column(HISTORY_KEY, joined)


def diff(
    current: pa.Table,
    previous: pa.Table | None,
    id_column: str,
    ignore: Sequence[str] = (),
    what: str = "snapshot",
) -> tuple[pa.Table, pa.Array]:
    """The rows of ``current`` not in ``previous`` (compared without ``ignore``), and the ids
    ``previous`` holds that ``current`` does not."""
    ids = current[id_column]
    if previous is None or previous.num_rows == 0:
        return current, pa.array([], ids.type)
    compared = [n for n in current.column_names if n not in ignore]
    left = current.select(compared)
    try:  # the snapshot before, on today's columns: a column added since is null there
        right = conform_to(previous, left.schema, f"{what}: the snapshot before")
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    with duckdb.connect() as con:
        con.register("left_rows", left)
        con.register("right_rows", right)
        relation = con.sql(
            f'SELECT "{id_column}" FROM (SELECT * FROM left_rows EXCEPT ALL '
            "SELECT * FROM right_rows)"
        )
        # DuckDB 2 names it to_arrow_table; 1.x arrow.
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
        changed = fetch()[id_column]
    rows = current.filter(pc.is_in(ids, value_set=changed.combine_chunks().cast(ids.type)))
    before = previous[id_column].cast(ids.type)
    gone = pc.unique(before.filter(pc.invert(pc.is_in(before, value_set=ids.combine_chunks()))))
    return rows, gone.combine_chunks() if isinstance(gone, pa.ChunkedArray) else gone


def _read(source: SnapshotHistory, value: str) -> pa.Table:
    table = source.snapshots.read(value).replace_schema_metadata(None)
    table = table.drop_columns([c for c in SNAPSHOT_COLUMNS if c in table.column_names])
    return _with_key(table, source.keys, f"{source.what} snapshot {value}")


def _current(
    source: SnapshotHistory,
    value: str,
    previous: str | None,
    snapshots: dict[str, float],
    changes: dict[str, float],
) -> bool:
    """Changes ``value`` are as snapshots ``previous`` and ``value`` are now."""
    if value not in changes:
        return False
    newest = max(snapshots[value], snapshots[previous] if previous else 0.0)
    if changes[value] > newest:
        return True
    # Same-second times (an object store's): the partition's note decides.
    note = source.changes.file_metadata(value).get(CHANGES_OF)
    return note == _note(value, previous, snapshots)


def _note(value: str, previous: str | None, snapshots: dict[str, float]) -> str:
    return json.dumps(
        {
            "snapshot": value,
            "written": snapshots[value],
            "previous": previous,
            "previous_written": snapshots[previous] if previous else None,
        },
        sort_keys=True,
    )


def refresh(source: SnapshotHistory, upto: str) -> list[str]:
    """Every changes partition up to snapshot ``upto`` as the snapshots are now, recomputed in
    date order where missing or older than its snapshots; the days recomputed."""
    snapshots = source.snapshots.written()
    if upto not in snapshots:
        raise DataError(
            f"{source.what} {upto}: snapshot {upto} is not published "
            f"({source.snapshots.location(upto)}); the history follows the snapshots: "
            "materialise it first"
        )
    changes = source.changes.written()
    done: list[str] = []
    previous: str | None = None
    for value in sorted(v for v in snapshots if v <= upto):
        if not _current(source, value, previous, snapshots, changes):
            _compute(source, value, previous, snapshots)
            done.append(value)
        previous = value
    if done:
        log.info("%s: changes computed for %s", source.what, ", ".join(done))
    return done


def _compute(
    source: SnapshotHistory, value: str, previous: str | None, snapshots: dict[str, float]
) -> None:
    what = f"{source.what} {value}"
    current = _read(source, value)
    before = _read(source, previous) if previous else None
    key = source.id_column
    if current[key].null_count:
        raise DataError(f"{what}: {current[key].null_count} snapshot row(s) have no key")
    rows, gone = diff(current, before, key, source.ignore, what)
    # Each key column too, so an erasure finds a deleted key where it finds the snapshot's.
    deleted = pa.table({key: gone})
    if before is not None and len(gone):
        held = before.filter(pc.is_in(before[key], value_set=gone))
        deleted = held.select(list(dict.fromkeys([*source.keys, key])))
    elif len(source.keys) > 1:
        for column in source.keys:
            deleted = deleted.append_column(column, pa.nulls(0, current.schema.field(column).type))
    note = {CHANGES_OF: _note(value, previous, snapshots)}
    # Deletions first: the changes partition is the marker that both are current.
    source.deleted.write(value, deleted.replace_schema_metadata(note))
    source.changes.write(value, rows.replace_schema_metadata(note))


def update(source: SnapshotHistory, value: str, engine: object = None) -> StageReport:
    """The history brought up to snapshot ``value``: its changes first, then the batches."""
    recomputed = refresh(source, value)
    report = maintain.update(source.source(), value, engine)
    report.metadata["changes_computed"] = recomputed
    return report


def behind(source: SnapshotHistory, value: str) -> str | None:
    """As :func:`maintain.behind`, after checking every snapshot up to ``value`` has its
    changes as the snapshots are now."""
    snapshots = source.snapshots.written()
    if value not in snapshots:
        return f"snapshot {value} is not published"
    changes = source.changes.written()
    previous: str | None = None
    for day in sorted(v for v in snapshots if v <= value):
        if not _current(source, day, previous, snapshots, changes):
            return (
                f"snapshot {day} was written after the history took its changes: "
                "materialise the history again"
            )
        previous = day
    return maintain.behind(source.source(), value)
