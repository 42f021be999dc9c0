"""The stages of an event-streamed entity as plain functions, for any configured entity.

- ``initial_state`` (raw): a full parallel scan of DynamoDB, in the canonical columns plus any
  attribute outside them (typed, or JSON text), and the import columns.
- ``events`` / ``events_quarantine`` (refined): the day's raw event files compacted, ordered by
  event time; malformed events set aside with their reason. The footer records the raw files
  read and a digest of the events (:mod:`lbh_platform.event_streams.inputs`).
- ``snapshot`` / ``deletions`` (refined): the base state with every events partition of its
  window applied. The base is the newest earlier snapshot, unless an initial extract is newer
  (a re-sync), in which case the extract is the base and the events from its own day on are
  applied again: every event holds the whole state, so re-applying converges on the same state.
  A raw folder in the window never compacted, or with files landed since it was, is compacted
  first: a missed day is never a smaller snapshot.

Each snapshot's parquet footer records its base, the events partitions applied (with their
digests) and the events that touched unknown entities, so the checks can re-derive them
independently. The rules for the checks are in :mod:`lbh_platform.event_streams.rules`.
"""

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.errors import DataError
from lbh_platform.common.import_columns import IMPORT_METADATA_COLUMNS, import_columns, yyyymmdd
from lbh_platform.common.stage_report import StageReport
from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.engines.base import Engine
from lbh_platform.event_streams import inputs as record
from lbh_platform.event_streams.dynamodb import ScanResult, arrow_column
from lbh_platform.event_streams.erased import drop_erased_events, drop_erased_items
from lbh_platform.event_streams.events import EventReader
from lbh_platform.event_streams.inputs import Base, Inputs
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.schema import Conversion, snake_case
from lbh_platform.event_streams.sink import EventFiles
from lbh_platform.event_streams.spec import EventStream
from lbh_platform.storage.lake import Lake

SOURCE_TABLE_KEY = "lbh.dynamodb_table"
READ_WORKERS = 16
SAMPLE = 20
DEFAULT_ENGINE: Engine = ArrowEngine()
_RESERVED = set(IMPORT_METADATA_COLUMNS)

Scan = Callable[[], ScanResult]
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- initial state


@dataclass
class ExtractTable:
    table: pa.Table
    conversion: Conversion
    extra_columns: dict[str, str] = field(default_factory=dict)  # column -> "typed" | "json"


def extract_table(stream: EventStream, items: list[dict[str, Any]]) -> ExtractTable:
    """Plain DynamoDB items -> canonical columns (lenient) plus the other attributes.

    Attributes outside the canonical schema keep their values under a snake_case name: typed
    when one Arrow type holds them all, JSON text otherwise. Rows are sorted by key.
    """
    schema, renames = stream.schema, stream.dynamodb_attributes
    key = stream.key
    items = sorted(items, key=lambda item: str(_attribute(item, key, renames) or ""))
    conversion = Conversion()
    canonical = schema.canonical_table(
        [
            schema.canonical_record(item, strict=False, report=conversion, renames=renames)
            for item in items
        ]
    )
    extras: dict[str, str] = {}
    names: dict[str, str] = {}
    columns = set(schema.columns)
    for item in items:
        for source in schema.unmapped_top_level(item, renames):
            if source not in names:
                column = snake_case(source) or "attribute"
                while column in columns or column in names.values() or column in _RESERVED:
                    column += "_attr"
                names[source] = column
    table = canonical
    for source, column in names.items():
        array, as_json = arrow_column([item.get(source) for item in items])
        table = table.append_column(column, array)
        extras[column] = "json" if as_json else "typed"
    conversion.unmapped = {
        k: v for k, v in conversion.unmapped.items() if "." in k
    }  # top-level extras are kept as columns, only nested ones are lost
    return ExtractTable(table, conversion, extras)


def _attribute(item: dict[str, Any], column: str, renames: dict[str, str]) -> Any:
    for name, value in item.items():
        if (renames.get(name) or snake_case(name)) == column:
            return value
    return None


def extract_initial_state(
    lake: Lake,
    stream: EventStream,
    day: date,
    scan: Scan,
    imported_at: datetime | None = None,
) -> StageReport:
    """Scan the whole DynamoDB table and publish it as the initial state of ``day``."""
    value = yyyymmdd(day)
    result = scan()
    imported_at = imported_at or datetime.now(UTC)
    extracted = extract_table(stream, result.items)
    rows, erased = drop_erased_items(lake, stream, extracted.table)
    build = record.table_digest(rows)
    for name, values in import_columns(rows.num_rows, day, imported_at).items():
        rows = rows.append_column(name, values)
    missing_ids = rows[stream.key].null_count
    notes = {
        SOURCE_TABLE_KEY: result.table_name,
        "lbh.segments": str(result.segments),
        record.BUILD_KEY: build,
    }
    table = stage_table(lake, stream, "initial_state")
    written = table.write(value, rows.replace_schema_metadata(notes))
    return StageReport(
        "initial_state",
        value,
        rows.num_rows,
        {
            "dynamodb_table": result.table_name,
            "segments": result.segments,
            "pages": result.pages,
            "scanned_count": result.scanned_count,
            "throttled_retries": result.retries,
            "retry_reasons": result.retry_reasons,
            "items_without_id": missing_ids,
            "values_nulled_by_conversion": extracted.conversion.failures,
            "conversion_examples": extracted.conversion.examples,
            "nested_fields_outside_schema": extracted.conversion.unmapped,
            "attributes_outside_schema": extracted.extra_columns,
            "erased_items_left_out": erased.rows,
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )


# --------------------------------------------------------------------------- events


def compact_events(lake: Lake, stream: EventStream, day: date) -> list[StageReport]:
    """Compact the day's raw event files; publish quarantine first, then events (the marker).

    The events footer records the files read (count, newest time, names) and a digest of the
    events, so a later snapshot knows whether it holds this version of the day.
    """
    value = yyyymmdd(day)
    files = EventFiles(lake, stream.topic)
    listed = files.files(value)
    with ThreadPoolExecutor(READ_WORKERS, thread_name_prefix=f"{stream.name}-events") as pool:
        payloads = list(pool.map(files.read, listed))
    result = EventReader(stream).compact(zip([f.name for f in listed], payloads, strict=True))
    result.events, erased = drop_erased_events(lake, stream, result.events)
    notes = {
        **record.raw_record(listed),
        record.EVENTS_READ_KEY: str(result.events_read),
        record.EVENTS_DIGEST_KEY: record.events_digest(result.events["event_id"].to_pylist()),
        record.OUTSIDE_SCHEMA_KEY: json.dumps(result.unmapped_fields, sort_keys=True),
    }
    quarantine_table = stage_table(lake, stream, "events_quarantine")
    quarantine = quarantine_table.write(value, result.quarantine)
    events_table = stage_table(lake, stream, "events")
    events = events_table.write(value, result.events.replace_schema_metadata(notes))
    stale = sorted(Inputs(lake, stream).stale_snapshots(since=value))
    if stale:
        log.warning(
            "%s events %s compacted again: snapshots %s no longer hold every event of their "
            "window and are rebuilt in order (sensor %s_stale_snapshots)",
            stream.label,
            value,
            stale,
            stream.name,
        )
    actions = pc.value_counts(result.events["action"]).to_pylist() if result.events.num_rows else []
    times = result.events["event_time"]
    common = {"source": files.location(value), "files": result.files}
    return [
        StageReport(
            "events_quarantine",
            value,
            result.quarantine.num_rows,
            {**common, "reasons": result.reasons, "path": quarantine.path},
        ),
        StageReport(
            "events",
            value,
            result.events.num_rows,
            {
                **common,
                "events_by_action": {a["values"]: a["counts"] for a in actions},
                "quarantined": result.quarantine.num_rows,
                "redelivered_dropped": result.duplicates_dropped,
                "erased_events_left_out": erased.rows,
                "first_event_time": _iso(pc.min(times).as_py()) if len(times) else "none",
                "last_event_time": _iso(pc.max(times).as_py()) if len(times) else "none",
                "newest_file_time": notes[record.RAW_NEWEST_KEY] or "none",
                "fields_outside_schema": result.unmapped_fields,
                "snapshots_made_stale": stale,
                "note": "" if listed else f"no event files in {files.location(value)}",
                "path": events.path,
                "bytes_written": events.bytes_written,
            },
        ),
    ]


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "none"


# --------------------------------------------------------------------------- snapshot


def choose_base(lake: Lake, stream: EventStream, value: str) -> Base:
    """The base for snapshot ``value``: the newest earlier snapshot, or a newer extract."""
    snapshots = [p for p in stage_table(lake, stream, "snapshot").partitions() if p < value]
    extracts = [p for p in stage_table(lake, stream, "initial_state").partitions() if p <= value]
    if extracts and (not snapshots or extracts[-1] > snapshots[-1]):
        return Base("initial_state", extracts[-1])
    if snapshots:
        return Base("snapshot", snapshots[-1])
    raise DataError(
        f"{stream.label} snapshot partition {value}: no initial_state partition on or before "
        f"it and no earlier snapshot ({stage_table(lake, stream, 'initial_state').location()}); "
        f"materialise {stream.name}/initial_state first"
    )


def build_snapshot(
    lake: Lake, stream: EventStream, day: date, engine: Engine = DEFAULT_ENGINE
) -> list[StageReport]:
    """Base + every events partition of the window -> snapshot; the run's tombstones ->
    deletions (published first).

    Raw folders of the window never compacted, or with files landed since, are compacted first
    (their reports come first in the list). A window with no events is not an error: a re-sync
    or a backfill may build it. The transform runs on ``engine`` (pyarrow by default, Spark when
    configured); both read and write the same layout, so consecutive days may run on either.
    """
    value = yyyymmdd(day)
    base = choose_base(lake, stream, value)
    reports: list[StageReport] = []
    late = Inputs(lake, stream).to_compact(base, value)
    for comparison in late:
        log.warning(
            "%s snapshot %s: raw folder import_date=%s is %s; compacting it first",
            stream.label,
            value,
            comparison.value,
            "not compacted" if comparison.state == "missing" else "newer than its compaction",
        )
        moment = datetime.strptime(comparison.value, "%Y%m%d").date()
        reports.extend(compact_events(lake, stream, moment))
    inputs = Inputs(lake, stream)
    pending = [p for p in inputs.partitions("events") if base.covers(p, value)]
    digests = {p: inputs.footer("events", p).get(record.EVENTS_DIGEST_KEY, "") for p in pending}
    base_rows = engine.read(stage_table(lake, stream, base.stage), [base.value])
    events = engine.read(stage_table(lake, stream, "events"), pending)
    deletions_table = stage_table(lake, stream, "deletions")
    earlier = [p for p in deletions_table.partitions() if p < value]
    tombstones = engine.read(deletions_table, earlier) if earlier else None
    result = engine.apply_events(
        base_rows,
        events,
        tombstones,
        model=stream.model,
        snapshot_value=value,
        what=f"{stream.label} {base.label}",
    )
    deletions = engine.write(deletions_table, value, result.tombstones)
    base_build = inputs.build_digest(base.stage, base.value)
    notes = {
        record.BASE_KEY: base.label,
        record.BASE_BUILD_KEY: base_build,
        record.APPLIED_KEY: json.dumps(pending),
        record.DIGESTS_KEY: json.dumps(digests, sort_keys=True),
        record.UNKNOWN_KEY: json.dumps([e["event_id"] for e in result.unknown_entity_events]),
        record.BUILD_KEY: record.digest([base.label, base_build, digests]),
    }
    written = engine.write(stage_table(lake, stream, "snapshot"), value, result.state, notes)
    return [
        *reports,
        StageReport(
            "deletions",
            value,
            deletions.rows,
            {
                "of_unknown_entities": result.counts["unknown_entity_deleted"],
                "engine": engine.name,
                "path": deletions.path,
            },
        ),
        StageReport(
            "snapshot",
            value,
            written.rows,
            {
                "base": base.label,
                "base_rows": result.base_rows,
                "events_partitions_applied": pending,
                "events_partitions_compacted_first": [c.value for c in late],
                "events_applied": result.event_rows,
                "events_partition_of_the_day": "yes" if value in pending else "none yet",
                **{f"events_{k}": v for k, v in result.counts.items()},
                "unknown_entity_events_sample": result.unknown_entity_events[:SAMPLE],
                "engine": engine.name,
                "path": written.path,
                "bytes_written": written.bytes_written,
            },
        ),
    ]
