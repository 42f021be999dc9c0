"""The four Tascomi stages as plain functions: read upstream partitions, transform, publish.

Each returns a report whose ``metadata`` the Dagster assets attach to the materialisation.
Partition bookkeeping (which import window, which snapshot to build on) is decided here
from what is actually published in the lake, so a missed day, a gap or a re-run all
resolve the same way whether run by Dagster, a test or a script.
"""

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyarrow as pa

from lbh_platform.common.errors import DataError
from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.common.stage_report import StageReport
from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.engines.base import Engine
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform.tascomi.transforms import (
    PageLike,
    raw_response_table,
)

log = logging.getLogger(__name__)
CAST_FAILURES_KEY = "lbh.cast_failures"
MISSING_COLUMNS_KEY = "lbh.catalogue_columns_missing"
MAX_WINDOW_DAYS = 60
DEFAULT_ENGINE: Engine = ArrowEngine()  # longer gaps are refetched with one unfiltered (full) load


def partition_value(day: date) -> str:
    return yyyymmdd(day)


def day_of(value: str) -> date:
    return datetime.strptime(value, "%Y%m%d").date()


def cast_failures(lake: Lake, table: str, value: str) -> dict[str, int]:
    """Per-column cast failures recorded with an increment partition."""
    notes = lake.tascomi("increment", table).file_metadata(value)
    return json.loads(notes.get(CAST_FAILURES_KEY, "{}"))


# --------------------------------------------------------------------------- api_response


@dataclass(frozen=True)
class ImportWindow:
    """Which ``last_updated`` days to ask for; ``days is None`` means a full load."""

    days: list[date] | None
    previous_import: str | None

    def describe(self) -> str:
        if self.days is None:
            return (
                "full load (no earlier import)"
                if self.previous_import is None
                else (
                    f"full load (gap since {self.previous_import} exceeds {MAX_WINDOW_DAYS} days)"
                )
            )
        if not self.days:
            return "nothing to ask for"
        return f"last_updated {self.days[0]} .. {self.days[-1]} ({len(self.days)} days)"


def import_window(published: Sequence[str], day: date) -> ImportWindow:
    """Records updated from the previous import date up to ``day - 1`` inclusive."""
    target = partition_value(day)
    earlier = [p for p in published if p < target]
    if not earlier:
        return ImportWindow(None, None)
    previous = day_of(earlier[-1])
    span = (day - previous).days
    if span > MAX_WINDOW_DAYS:
        return ImportWindow(None, earlier[-1])
    return ImportWindow([previous + timedelta(days=i) for i in range(span)], earlier[-1])


Fetch = Callable[[str, date | None], Sequence[PageLike]]


def ingest(
    lake: Lake, table: TascomiTable, day: date, fetch: Fetch, imported_at: datetime | None = None
) -> StageReport:
    """Fetch the import window from the API and publish it as one raw partition.

    Nothing is written unless every page arrived: a failure raises and leaves any earlier
    version of the partition as it was.
    """
    target = lake.tascomi("api_response", table.name)
    window = import_window(target.partitions(), day)
    log.info("tascomi %s %s: %s", table.name, day, window.describe())
    pages: list[PageLike] = []
    requested = [None] if window.days is None else window.days
    for asked in requested:
        got = fetch(table.name, asked)
        pages.extend(got)
        log.info(
            "tascomi %s %s: %s -> %d pages, %d records",
            table.name,
            day,
            asked or "all",
            len(got),
            sum(len(p.records) for p in got),
        )
    raw, held_back = raw_response_table(table.name, pages, day, imported_at)
    written = target.write(partition_value(day), raw)
    return StageReport(
        ("tascomi", "api_response", table.name),
        partition_value(day),
        raw.num_rows,
        {
            "window": window.describe(),
            "previous_import_date": window.previous_import or "none",
            "pages": len(pages),
            "records_held_back_for_next_day": held_back,
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )


# --------------------------------------------------------------------------- parsed


def _require(lake: Lake, stage: str, table: str, value: str) -> PartitionedTable:
    source = lake.tascomi(stage, table)
    if not source.exists(value):
        raise DataError(
            f"tascomi {table} partition {value}: upstream {stage} is not materialised "
            f"({source.location(value)}); materialise it first"
        )
    return source


def parse(
    lake: Lake, table: TascomiTable, day: date, engine: Engine = DEFAULT_ENGINE
) -> StageReport:
    value = partition_value(day)
    raw = engine.read(_require(lake, "api_response", table.name, value), [value])
    try:
        result = engine.parse(raw, table.name)
    except (ValueError, pa.ArrowException) as exc:
        raise DataError(f"tascomi {table.name} partition {value}: cannot parse: {exc}") from exc
    written = engine.write(lake.tascomi("parsed", table.name), value, result.frame)
    return StageReport(
        ("tascomi", "parsed", table.name),
        value,
        written.rows,
        {
            "raw_rows": result.rows_in,
            "non_200_rows_dropped": result.non_200_rows,
            "exact_duplicate_records_dropped": result.exact_duplicates_dropped,
            "columns": len(engine.columns(result.frame)),
            "engine": engine.name,
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )


# --------------------------------------------------------------------------- increment


def refine(
    lake: Lake,
    table: TascomiTable,
    day: date,
    column_types: dict[str, str],
    engine: Engine = DEFAULT_ENGINE,
) -> StageReport:
    value = partition_value(day)
    parsed = engine.read(_require(lake, "parsed", table.name, value), [value])
    types = column_types if table.recast else {}
    result = engine.recast(parsed, types)
    # The counts travel with the data, so checks read them per partition in any run.
    notes = {
        CAST_FAILURES_KEY: json.dumps(result.cast_failures),
        MISSING_COLUMNS_KEY: json.dumps(result.missing_columns),
    }
    written = engine.write(lake.tascomi("increment", table.name), value, result.frame, notes)
    columns = engine.columns(parsed)
    untyped = [c for c in columns if c not in types]
    return StageReport(
        ("tascomi", "increment", table.name),
        value,
        written.rows,
        {
            "cast_failures_total": sum(result.cast_failures.values()),
            "cast_failures_by_column": result.cast_failures,
            "catalogue_columns_missing": result.missing_columns,
            "typed_columns": len([c for c in types if c in columns]),
            "untyped_columns": len(untyped),
            "recast": table.recast,
            "engine": engine.name,
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )


# --------------------------------------------------------------------------- snapshot


def snapshot(
    lake: Lake, table: TascomiTable, day: date, engine: Engine = DEFAULT_ENGINE
) -> StageReport:
    """Newest earlier snapshot + every increment since it, applied by id."""
    value = partition_value(day)
    snapshots = lake.tascomi("snapshot", table.name)
    increments = lake.tascomi("increment", table.name)
    if not increments.exists(value):
        raise DataError(
            f"tascomi {table.name} partition {value}: increment is not materialised "
            f"({increments.location(value)}); materialise it first"
        )
    earlier = [p for p in snapshots.partitions() if p < value]
    base_value = earlier[-1] if earlier else None
    pending = [
        p for p in increments.partitions() if p <= value and (base_value is None or p > base_value)
    ]
    applied = engine.read(increments, pending)
    try:
        result = engine.write_snapshot(snapshots, base_value, applied, table.id_column, value)
    except DataError as exc:
        raise DataError(f"tascomi {table.name} snapshot {value}: {exc}") from exc
    written = result.written
    return StageReport(
        ("tascomi", "snapshot", table.name),
        value,
        written.rows,
        {
            "base_snapshot_date": base_value or "none (first snapshot)",
            "increments_applied": pending,
            "increment_rows": result.increment_rows,
            "rows_replaced": result.replaced_rows,
            "rows_inserted": result.inserted_rows,
            "rows_without_id_skipped": result.rows_without_id,
            "engine": engine.name,
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )
