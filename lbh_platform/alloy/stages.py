"""The two Alloy stages as plain functions: export → api_response, api_response → snapshot.

The export watermark (for incremental datasets) is the time the previous successful export
was *requested*, read from the newest earlier api_response partition, so an item edited
while an export ran is taken again next time rather than lost. Every table of an export is
read before any is published, so a bad CSV publishes nothing.
"""

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.alloy.client import ExportMember, ExportMemberError, ExportResult
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.alloy.erased import drop_erased_export
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.alloy.transforms import (
    ParsedCsv,
    apply_renames,
    column_changes,
    full_snapshot,
    keep_columns,
    last_edit_column,
    read_csv,
    relink_snapshot,
    upsert_snapshot,
)
from lbh_platform.common import lineage
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
MEMBER_KEY = "lbh.export_member"
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
    root = alloy_table(lake, "api_response", dataset.name, dataset.name)
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

    Every table is read first, so a CSV that cannot be read publishes nothing. Joined tables
    are published first and the root last: the root partition carries the watermark, so an
    export counts as done only once all its tables are in place.
    """
    since = watermark(lake, dataset, day)
    result = run_export(dataset, since)
    imported_at = imported_at or datetime.now(UTC)
    value = yyyymmdd(day)
    ignored = list(result.ignored_members) + sorted(set(result.tables) - set(dataset.tables))
    parsed: dict[str, tuple[str, ParsedCsv]] = {}
    for table in [*dataset.joined_designs, dataset.name]:
        source = result.tables.get(table)
        if source is None:
            raise DataError(
                f"alloy {dataset.name} partition {value}: the export has no CSV for table "
                f"{table!r} (it has {sorted(result.tables)}); check the query's join_designs"
            )
        parsed[table] = _read_table(dataset, table, value, source)
    kept, erased = drop_erased_export(lake, dataset, {t: c.table for t, (_, c) in parsed.items()})
    reports = []
    for table, (member, csv) in parsed.items():
        rows = _with_import_columns(kept[table], day, imported_at)
        notes = {
            REQUESTED_AT_KEY: result.requested_at.isoformat(),
            CSV_ROWS_KEY: str(csv.records),
            MEMBER_KEY: member,
        }
        metadata: dict[str, object] = {
            "mode": dataset.mode,
            "watermark": since.isoformat() if since else "none (full export)",
            "export_requested_at": result.requested_at.isoformat(),
            "export_member": member,
            "csv_records": csv.records,
            "all_null_rows_dropped": csv.all_null_rows,
            "erased_rows_left_out": erased[table].rows,
        }
        if is_root(dataset, table):
            if result.reported_count is not None:
                notes[REPORTED_COUNT_KEY] = str(result.reported_count)
            repeated = _repeated_ids(rows)
            metadata["duplicate_item_ids"] = sum(repeated.values())
            if repeated:
                log.warning(
                    "alloy %s partition %s: %d Item ID(s) exported more than once (%s); "
                    "the snapshot keeps each one's newest edit",
                    dataset.name,
                    value,
                    len(repeated),
                    sorted(repeated)[:10],
                )
        written = alloy_table(lake, "api_response", dataset.name, table).write(
            value, rows.replace_schema_metadata(notes)
        )
        metadata.update(
            task_reported_count=result.reported_count if is_root(dataset, table) else None,
            ignored_members=ignored,
            path=written.path,
            bytes_written=written.bytes_written,
        )
        reports.append(StageReport("api_response", value, rows.num_rows, metadata, table=table))
    return reports


def _read_table(
    dataset: AlloyDataset, table: str, value: str, source: ExportMember | str
) -> tuple[str, ParsedCsv]:
    """The CSV's member name and rows; any failure names dataset, table, member and partition."""
    member = source.name if isinstance(source, ExportMember) else f"{table} (text)"
    where = f"alloy {dataset.name}/{table} partition {value}"
    try:
        return member, read_csv(source.lines() if isinstance(source, ExportMember) else source)
    except ExportMemberError as exc:
        raise DataError(f"{where}: {exc}; nothing was published") from exc
    except DataError as exc:
        raise DataError(f"{where}: export member {member!r}: {exc}; nothing was published") from exc


def _repeated_ids(rows: pa.Table) -> dict[str, int]:
    """Each Item ID the export holds more than once, with how many extra rows it has."""
    if ROOT_ID not in rows.column_names or rows.num_rows == 0:
        return {}
    counts = pa.table({"id": rows[ROOT_ID]}).group_by("id").aggregate([("id", "count")])
    extra = counts.filter(pc.greater(counts["id_count"], 1))
    return {
        str(k): n - 1
        for k, n in zip(extra["id"].to_pylist(), extra["id_count"].to_pylist(), strict=True)
        if k is not None
    }


def _with_import_columns(rows: pa.Table, day: date, imported_at: datetime) -> pa.Table:
    for name, values in import_columns(rows.num_rows, day, imported_at).items():
        rows = rows.append_column(name, values)
    return rows


def snapshot(
    lake: Lake, dataset: AlloyDataset, table: str, day: date, *, confirm_deletions: bool = False
) -> StageReport:
    """Incremental: previous snapshot upserted with every export since (a joined table: each
    root item exported keeps exactly that day's links). Full: the export, unless it would
    delete more than the allowed share of rows (see ``deletion_guard``). A column an export
    adds is null for older rows; one it stops sending is kept, null for its rows."""
    value = yyyymmdd(day)
    where = f"alloy {dataset.name}/{table} snapshot {value}"
    exports = alloy_table(lake, "api_response", dataset.name, table)
    snapshots = alloy_table(lake, "snapshot", dataset.name, table)
    exports.require(value, f"alloy {dataset.name}/{table} partition {value}", "api_response")
    plan = lineage.plan(snapshot_inputs(lake, dataset, table, value), value)
    if not plan.ok:
        raise DataError(lineage.refusal(plan, where, f"the export and snapshots of {dataset.name}"))
    base_value = plan.base
    base = snapshots.read(base_value) if base_value else None
    if base is not None:
        base = base.drop_columns([c for c in base.column_names if c.startswith("snapshot_")])
    renames = dataset.renames.get(table, {})
    keys = key_columns(dataset, table)
    metadata: dict[str, object] = {"mode": dataset.mode, "base_snapshot_date": base_value or "none"}

    def read(partition: str) -> pa.Table:
        return apply_renames(exports.read(partition).replace_schema_metadata(None), renames)

    if dataset.mode == "full":
        pending = [value]
        parts = [read(value)]
        rows = parts[0]
        if is_root(dataset, table):
            edit = last_edit_column(rows.column_names, renames)
            merged, deleted, counts = full_snapshot(base, rows, keys[0], edit)
        else:
            merged, deleted = rows, _missing_keys(base, rows, keys[0])
            counts = {"rows": rows.num_rows, "deleted": len(deleted)}
        merged = keep_columns(merged, base)
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
        pending = plan.applied
        parts = [read(p) for p in pending]
        if is_root(dataset, table):
            rows = unify(parts, f"alloy {dataset.name}/{table} exports")
            edit = last_edit_column(rows.column_names, renames)
            merged, counts = upsert_snapshot(base, rows, keys[0], edit_column=edit)
        else:
            days = [
                (_exported_root_ids(lake, dataset, where, p), part)
                for p, part in zip(pending, parts, strict=True)
            ]
            merged, counts = relink_snapshot(base, days, keys[0])
        metadata.update(counts)
        metadata["exports_applied"] = pending
    added, missing = column_changes(None if base is None else base.column_names, parts)
    metadata["columns_added"] = added
    metadata["columns_missing_from_export"] = missing
    if added:
        log.info("%s: new column(s) %s, null for the rows exported before", where, added)
    if missing:
        log.warning(
            "%s: column(s) %s missing from the export of %s; kept, null for its rows",
            where,
            missing,
            ", ".join(pending),
        )
    if metadata.get("duplicate_ids"):
        log.warning(
            "%s: %d row(s) repeated an Item ID within one export; the newest edit was kept",
            where,
            metadata["duplicate_ids"],
        )
    for name, values in snapshot_columns(merged.num_rows, day).items():
        merged = merged.append_column(name, values)
    written = snapshots.write(value, merged.replace_schema_metadata(lineage.notes(plan)))
    metadata.update(path=written.path, bytes_written=written.bytes_written)
    return StageReport("snapshot", value, merged.num_rows, metadata, table=table)


def snapshot_inputs(
    lake: Lake, dataset: AlloyDataset, table: str, value: str | None = None
) -> lineage.Inputs:
    """A snapshot's exports as published now. Incremental: every export (a joined table's
    export counts as done once its root table, published last, is there too). Full: only
    each snapshot's own day's export matters (``value``'s, and every published snapshot's)."""
    exports = alloy_table(lake, "api_response", dataset.name, table).written()
    snapshots = alloy_table(lake, "snapshot", dataset.name, table)
    published = snapshots.written()
    stages = [lineage.Stage("export", exports)]
    if dataset.mode == "full":
        days = {*published, *([value] if value else [])}
        stages = [lineage.Stage("export", {v: t for v, t in exports.items() if v in days})]
    elif not is_root(dataset, table):
        root = alloy_table(lake, "api_response", dataset.name, dataset.name).written()
        stages.append(lineage.Stage("root table export", root))
    return lineage.Inputs(
        stages,
        published,
        recorded_base=lambda v: snapshots.file_metadata(v).get(lineage.BASE_KEY) or None,
    )


def inputs_outcome(lake: Lake, dataset: AlloyDataset, table: str, value: str) -> RuleOutcome:
    """Snapshot ``value`` applied every export since its base, each as it is now."""
    footer = alloy_table(lake, "snapshot", dataset.name, table).file_metadata(value)
    return lineage.proof(
        snapshot_inputs(lake, dataset, table, value),
        value,
        footer,
        f"the export and snapshots of {dataset.name}",
    )


def _exported_root_ids(lake: Lake, dataset: AlloyDataset, where: str, partition: str) -> pa.Array:
    """The root items an export held: whose joined rows that export replaces."""
    root = alloy_table(lake, "api_response", dataset.name, dataset.name)
    if not root.exists(partition):
        raise DataError(
            f"{where}: the export of {partition} has joined tables but no root table "
            f"{dataset.name!r} (it is published last: that export did not finish); re-run the "
            f"export for {partition}"
        )
    ids = root.read(partition, columns=[ROOT_ID])
    if ROOT_ID not in ids.column_names:
        if ids.num_rows:
            raise DataError(f"{where}: the root export of {partition} has no {ROOT_ID!r} column")
        return pa.array([], pa.string())
    return ids[ROOT_ID].combine_chunks()


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
    notes = alloy_table(lake, "api_response", dataset.name, dataset.name).file_metadata(value)
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


def export_ids_outcome(lake: Lake, dataset: AlloyDataset, value: str) -> RuleOutcome:
    """Each Item ID once in the root export (a repeat is resolved, newest edit first, but
    says the export is not what it should be)."""
    rows = alloy_table(lake, "api_response", dataset.name, dataset.name).read(
        value, columns=[ROOT_ID]
    )
    repeated = _repeated_ids(rows)
    extra = sum(repeated.values())
    if not extra:
        return RuleOutcome(True, "every Item ID exported once", {"duplicate_item_ids": 0})
    sample = sorted(repeated)[:10]
    return RuleOutcome(
        False,
        f"{extra} extra row(s) for {len(repeated)} Item ID(s) exported more than once "
        f"(e.g. {', '.join(sample)}); the snapshot kept each one's newest edit",
        {"duplicate_item_ids": extra, "repeated_ids_sample": sample},
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
