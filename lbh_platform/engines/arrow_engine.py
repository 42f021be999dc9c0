"""The embedded single-machine engine: pyarrow tables, the shared row logic of
``lbh_platform.common.rows`` and ``lbh_platform.common.event_state``, and the Tascomi parse and
recast."""

from datetime import datetime

import pyarrow as pa

from lbh_platform.common import event_state, json_columns, rows
from lbh_platform.common import recast as recasting
from lbh_platform.common.event_state import EventModel
from lbh_platform.common.import_columns import snapshot_columns
from lbh_platform.engines import arrow_snapshot
from lbh_platform.engines.arrow_history import ArrowHistory
from lbh_platform.engines.base import AppliedEvents, Parsed, Recast, Snapshot, WrittenSnapshot
from lbh_platform.storage.partitioned_table import PartitionedTable, WriteResult


class ArrowEngine:
    name = "pandas"  # the documented name of the single-machine engine (LBH_ENGINE=pandas)

    def read(self, table: PartitionedTable, values: list[str]) -> pa.Table:
        return rows.unify([table.read(v) for v in values], table.display)

    def write(
        self,
        table: PartitionedTable,
        value: str,
        frame: pa.Table,
        notes: dict[str, str] | None = None,
    ) -> WriteResult:
        return table.write(value, frame.replace_schema_metadata(notes or None))

    def count(self, frame: pa.Table) -> int:
        return frame.num_rows

    def columns(self, frame: pa.Table) -> list[str]:
        return list(frame.column_names)

    def parse(self, raw: pa.Table, resource: str) -> Parsed:
        result = json_columns.parse_responses(raw, resource)
        return Parsed(
            result.table, result.rows_in, result.non_200_rows, result.exact_duplicates_dropped
        )

    def recast(self, parsed: pa.Table, column_types: dict[str, str]) -> Recast:
        result = recasting.recast(parsed, column_types)
        return Recast(result.table, result.cast_failures, result.missing_columns)

    def apply_increment(
        self, base: pa.Table | None, increments: pa.Table, id_column: str, snapshot_value: str
    ) -> Snapshot:
        day = datetime.strptime(snapshot_value, "%Y%m%d").date()
        result = rows.apply_increment(base, increments, id_column, day)
        return Snapshot(
            result.table,
            result.base_rows,
            result.increment_rows,
            result.replaced_rows,
            result.inserted_rows,
            result.rows_without_id,
        )

    def write_snapshot(
        self,
        snapshots: PartitionedTable,
        base_value: str | None,
        increments: pa.Table,
        id_column: str,
        snapshot_value: str,
        notes: dict[str, str] | None = None,
    ) -> WrittenSnapshot:
        """Streams the previous snapshot (:mod:`lbh_platform.engines.arrow_snapshot`); the
        first snapshot is just the deduplicated increment."""
        day = datetime.strptime(snapshot_value, "%Y%m%d").date()
        if base_value is not None:
            return arrow_snapshot.write_snapshot(
                snapshots, base_value, increments, id_column, day, notes
            )
        result = self.apply_increment(None, increments, id_column, snapshot_value)
        return WrittenSnapshot.published(
            self.write(snapshots, snapshot_value, result.frame, notes), result
        )

    def apply_events(
        self,
        base: pa.Table,
        events: pa.Table,
        tombstones: pa.Table | None = None,
        *,
        model: EventModel,
        snapshot_value: str | None = None,
        what: str = "state",
    ) -> AppliedEvents:
        result = event_state.apply_events(
            model,
            model.as_state(base, what),
            events,
            [] if tombstones is None else [tombstones],
        )
        state = result.state
        if snapshot_value is not None:
            day = datetime.strptime(snapshot_value, "%Y%m%d").date()
            for name, values in snapshot_columns(state.num_rows, day).items():
                state = state.append_column(name, values)
        return AppliedEvents(
            state,
            result.tombstones,
            result.counts,
            result.unknown_entity_events,
            base.num_rows,
            events.num_rows,
        )

    def history(self) -> ArrowHistory:
        return ArrowHistory()
