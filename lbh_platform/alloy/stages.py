"""The two Alloy stages as plain functions: export → api_response, api_response → snapshot.

The export watermark (for incremental datasets) is the time the previous successful export
was *requested*, read from the newest earlier api_response partition, so an item edited
while an export ran is taken again next time rather than lost.
"""

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.alloy.client import ExportResult
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.alloy.transforms import (
    apply_renames,
    csv_to_table,
    full_snapshot,
    upsert_snapshot,
)
from lbh_platform.common.deletion_guard import guard_deletions
from lbh_platform.common.errors import DataError
from lbh_platform.common.import_columns import import_columns, snapshot_columns, yyyymmdd
from lbh_platform.common.quality import RuleOutcome, duplicate_count
from lbh_platform.common.rows import unify
from lbh_platform.common.stage_report import StageReport
from lbh_platform.storage.lake import Lake

log = logging.getLogger(__name__)
REQUESTED_AT_KEY = "lbh.export_requested_at"
REPORTED_COUNT_KEY = "lbh.export_reported_count"
CSV_ROWS_KEY = "lbh.csv_rows"
ROOT_ID = "item_id"
JOINED_ID = "primary_item"

Export = Callable[[AlloyDataset, datetime | None], ExportResult]


def is_root(dataset: AlloyDataset, table: str) -> bool:
    return table == dataset.name


def key_columns(dataset: AlloyDataset, table: str) -> list[str]:
    """Columns that identify a snapshot row, after the table's renames.

    A root row is an item; a joined-design row is one linked item of one root item.
    """
    renames = dataset.renames.get(table, {})
    if is_root(dataset, table):
        return [renames.get(ROOT_ID, ROOT_ID)]
    return [renames.get(JOINED_ID, JOINED_ID), renames.get(ROOT_ID, ROOT_ID)]


def watermark(lake: Lake, dataset: AlloyDataset, day: date) -> datetime | None:
    """When the newest earlier export was requested (None: no earlier export, or full mode)."""
    if dataset.mode != "incremental":
        return None
    root = lake.alloy("api_response", dataset.name, dataset.name)
    previous = root.latest_before(yyyymmdd(day))
    if previous is None:
        return None
    stamp = root.file_metadata(previous).get(REQUESTED_AT_KEY)
    return datetime.fromisoformat(stamp) if stamp else None


def export(
    lake: Lake,
    dataset: AlloyDataset,
    day: date,
    run_export: Export,
    imported_at: datetime | None = None,
) -> list[StageReport]:
    """Run the dataset's export and publish every output table's api_response partition.

    Joined tables are published first and the root last: the root partition carries the
    watermark, so an export counts as done only once all its tables are in place.
    """
    since = watermark(lake, dataset, day)
    result = run_export(dataset, since)
    imported_at = imported_at or datetime.now(UTC)
    value = yyyymmdd(day)
    unexpected = sorted(set(result.tables) - set(dataset.tables))
    reports = []
    for table in [*dataset.joined_designs, dataset.name]:
        csv_text = result.tables.get(table)
        if csv_text is None:
            raise DataError(
                f"alloy {dataset.name} partition {value}: the export has no CSV for table "
                f"{table!r} (it has {sorted(result.tables)}); check the query's join_designs"
            )
        try:
            rows = csv_to_table(csv_text)
        except DataError as exc:
            raise DataError(f"alloy {dataset.name}/{table} partition {value}: {exc}") from exc
        csv_rows = max(0, len(csv_text.splitlines()) - 1)
        rows = _with_import_columns(rows, day, imported_at)
        notes = {REQUESTED_AT_KEY: result.requested_at.isoformat(), CSV_ROWS_KEY: str(csv_rows)}
        if is_root(dataset, table) and result.reported_count is not None:
            notes[REPORTED_COUNT_KEY] = str(result.reported_count)
        written = lake.alloy("api_response", dataset.name, table).write(
            value, rows.replace_schema_metadata(notes)
        )
        reports.append(
            StageReport(
                ("alloy", "api_response", dataset.name, table),
                value,
                rows.num_rows,
                {
                    "mode": dataset.mode,
                    "watermark": since.isoformat() if since else "none (full export)",
                    "export_requested_at": result.requested_at.isoformat(),
                    "task_reported_count": result.reported_count
                    if is_root(dataset, table)
                    else None,
                    "unexpected_tables_ignored": unexpected,
                    "path": written.path,
                    "bytes_written": written.bytes_written,
                },
            )
        )
    return reports


def _with_import_columns(rows: pa.Table, day: date, imported_at: datetime) -> pa.Table:
    for name, values in import_columns(rows.num_rows, day, imported_at).items():
        rows = rows.append_column(name, values)
    return rows


def snapshot(
    lake: Lake, dataset: AlloyDataset, table: str, day: date, *, confirm_deletions: bool = False
) -> StageReport:
    """Incremental: previous snapshot upserted with every export since. Full: the export,
    unless it would delete more than the allowed share of rows (see ``deletion_guard``)."""
    value = yyyymmdd(day)
    exports = lake.alloy("api_response", dataset.name, table)
    snapshots = lake.alloy("snapshot", dataset.name, table)
    exports.require(value, f"alloy {dataset.name}/{table} partition {value}", "api_response")
    base_value = snapshots.latest_before(value)
    base = snapshots.read(base_value) if base_value else None
    if base is not None:
        base = base.drop_columns([c for c in base.column_names if c.startswith("snapshot_")])
    renames = dataset.renames.get(table, {})
    keys = key_columns(dataset, table)
    metadata: dict[str, object] = {"mode": dataset.mode, "base_snapshot_date": base_value or "none"}
    if dataset.mode == "full":
        rows = apply_renames(exports.read(value).replace_schema_metadata(None), renames)
        if is_root(dataset, table):
            merged, deleted, counts = full_snapshot(base, rows, keys[0])
        else:
            merged, deleted = rows, _missing_keys(base, rows, keys[0])
            counts = {"rows": rows.num_rows, "deleted": len(deleted)}
        before = _distinct_keys(base, keys[0])
        share = guard_deletions(
            f"alloy {dataset.name}/{table} snapshot {value}",
            len(deleted),
            before,
            confirmed=confirm_deletions,
        )
        metadata.update(counts)
        metadata["deleted_ids_sample"] = deleted[:20]
        metadata["deleted"] = len(deleted)
        metadata["deleted_share"] = round(share, 6)
    else:
        pending = [
            p for p in exports.partitions() if p <= value and (base_value is None or p > base_value)
        ]
        rows = unify(
            [
                apply_renames(exports.read(p).replace_schema_metadata(None), renames)
                for p in pending
            ],
            f"alloy {dataset.name}/{table} exports",
        )
        merged, counts = upsert_snapshot(
            base, rows, keys[0], one_row_per_id=is_root(dataset, table)
        )
        metadata.update(counts)
        metadata["exports_applied"] = pending
    for name, values in snapshot_columns(merged.num_rows, day).items():
        merged = merged.append_column(name, values)
    written = snapshots.write(value, merged.replace_schema_metadata(None))
    metadata.update(path=written.path, bytes_written=written.bytes_written)
    return StageReport(("alloy", "snapshot", dataset.name, table), value, merged.num_rows, metadata)


def _distinct_keys(base: pa.Table | None, column: str) -> int:
    if base is None or base.num_rows == 0 or column not in base.column_names:
        return 0
    return len(pc.unique(base[column].drop_null()))


def _missing_keys(base: pa.Table | None, rows: pa.Table, column: str) -> list[str]:
    if base is None or base.num_rows == 0 or column not in base.column_names:
        return []
    now = set() if column not in rows.column_names else set(rows[column].to_pylist())
    return sorted(
        {str(v) for v in base[column].to_pylist() if v is not None} - {str(v) for v in now}
    )


def export_count_outcome(lake: Lake, dataset: AlloyDataset, value: str) -> RuleOutcome:
    """Compare the root CSV's row count with the count the export task reported, if any."""
    notes = lake.alloy("api_response", dataset.name, dataset.name).file_metadata(value)
    reported = notes.get(REPORTED_COUNT_KEY)
    csv_rows = int(notes.get(CSV_ROWS_KEY, "0"))
    if reported is None:
        return RuleOutcome(
            True, "the API reported no count for this export", {"csv_rows": csv_rows}
        )
    passed = int(reported) == csv_rows
    return RuleOutcome(
        passed,
        (f"{csv_rows} rows exported, task reported {reported}"),
        {"csv_rows": csv_rows, "task_reported_count": int(reported)},
    )


def key_outcome(table: pa.Table, keys: list[str]) -> RuleOutcome:
    """Key columns unique and complete."""
    missing = [k for k in keys if k not in table.column_names]
    if missing:
        if table.num_rows == 0:
            return RuleOutcome(True, "no rows", {"rows": 0})
        return RuleOutcome(False, f"key column(s) {missing} not found", {"rows": table.num_rows})
    nulls = sum(table[k].null_count for k in keys)
    duplicates = duplicate_count(table, keys)
    passed = nulls == 0 and duplicates == 0
    label = ", ".join(keys)
    description = (
        f"({label}) unique and complete"
        if passed
        else f"{duplicates} duplicate rows and {nulls} null values in ({label})"
    )
    return RuleOutcome(
        passed,
        description,
        {
            "rows": table.num_rows,
            "duplicate_rows": duplicates,
            "null_keys": nulls,
            "key_columns": keys,
        },
    )
