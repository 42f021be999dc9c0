"""The tenure stages as plain functions: initial state, events, snapshot, and their rules.

- ``initial_state`` (raw): a full parallel scan of DynamoDB, in the canonical columns plus any
  attribute outside them (typed, or JSON text), and the import columns.
- ``events`` / ``events_quarantine`` (refined): the day's event files compacted, ordered by
  event time; malformed events set aside with their reason.
- ``snapshot`` / ``deletions`` (refined): the base state with every pending events partition
  applied (:mod:`lbh_platform.tenure.apply`). The base is the newest earlier snapshot, unless an
  initial extract is newer (a re-sync), in which case the extract is the base and the events
  from its own day on are applied again: every event holds the whole state, so re-applying the
  events of the extract's day converges on the same state.

Each snapshot's parquet footer records its base, the events partitions applied and the events
that touched unknown entities, so the checks can re-derive them independently.
"""

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.errors import DataError
from lbh_platform.common.import_columns import IMPORT_METADATA_COLUMNS, import_columns, yyyymmdd
from lbh_platform.common.quality import RuleOutcome, duplicate_count
from lbh_platform.common.rows import unify
from lbh_platform.common.stage_report import StageReport
from lbh_platform.engines.arrow_engine import ArrowEngine
from lbh_platform.engines.base import Engine
from lbh_platform.storage.lake import Lake
from lbh_platform.tenure.apply import TENURE_EVENTS, unknown_entity_events
from lbh_platform.tenure.dynamodb import ScanResult, arrow_column
from lbh_platform.tenure.events import EVENT_SCHEMA, compact
from lbh_platform.tenure.locations import TABLE, EventFiles, tenure_table
from lbh_platform.tenure.schema import (
    ID,
    TENURE_COLUMNS,
    Conversion,
    canonical_record,
    canonical_table,
    conform,
    snake_case,
    unmapped_top_level,
)

BASE_KEY = "lbh.base"
APPLIED_KEY = "lbh.events_applied"
UNKNOWN_KEY = "lbh.unknown_entity_events"
SOURCE_TABLE_KEY = "lbh.dynamodb_table"
READ_WORKERS = 16
SAMPLE = 20
DEFAULT_ENGINE: Engine = ArrowEngine()

Scan = Callable[[], ScanResult]


def key(stage: str) -> tuple[str, ...]:
    return ("tenure", stage, TABLE)


# --------------------------------------------------------------------------- initial state


@dataclass
class ExtractTable:
    table: pa.Table
    conversion: Conversion
    extra_columns: dict[str, str] = field(default_factory=dict)  # column -> "typed" | "json"


def extract_table(items: list[dict[str, Any]]) -> ExtractTable:
    """Plain DynamoDB items -> canonical columns (lenient) plus the other attributes.

    Attributes outside the canonical schema keep their values under a snake_case name: typed
    when one Arrow type holds them all, JSON text otherwise. Rows are sorted by id.
    """
    items = sorted(items, key=lambda item: str(item.get("id", "")))
    conversion = Conversion()
    canonical = canonical_table(
        [canonical_record(item, strict=False, report=conversion) for item in items]
    )
    extras: dict[str, str] = {}
    names: dict[str, str] = {}
    for item in items:
        for source in unmapped_top_level(item):
            if source not in names:
                column = snake_case(source) or "attribute"
                while column in TENURE_COLUMNS or column in names.values() or column in _RESERVED:
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


_RESERVED = set(IMPORT_METADATA_COLUMNS)


def extract_initial_state(
    lake: Lake, day: date, scan: Scan, imported_at: datetime | None = None
) -> StageReport:
    """Scan the whole DynamoDB table and publish it as the initial state of ``day``."""
    value = yyyymmdd(day)
    result = scan()
    imported_at = imported_at or datetime.now(UTC)
    extracted = extract_table(result.items)
    rows = extracted.table
    for name, values in import_columns(rows.num_rows, day, imported_at).items():
        rows = rows.append_column(name, values)
    missing_ids = rows[ID].null_count
    notes = {SOURCE_TABLE_KEY: result.table_name, "lbh.segments": str(result.segments)}
    written = tenure_table(lake, "initial_state").write(value, rows.replace_schema_metadata(notes))
    return StageReport(
        key("initial_state"),
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
            "path": written.path,
            "bytes_written": written.bytes_written,
        },
    )


# --------------------------------------------------------------------------- events


def compact_events(lake: Lake, day: date) -> list[StageReport]:
    """Compact the day's event files; publish quarantine first, then events (the marker)."""
    value = yyyymmdd(day)
    files = EventFiles(lake)
    listed = files.files(value)
    with ThreadPoolExecutor(READ_WORKERS, thread_name_prefix="tenure-events") as pool:
        payloads = list(pool.map(files.read, listed))
    result = compact(zip([f.name for f in listed], payloads, strict=True))
    quarantine = tenure_table(lake, "events_quarantine").write(value, result.quarantine)
    events = tenure_table(lake, "events").write(value, result.events)
    actions = pc.value_counts(result.events["action"]).to_pylist() if result.events.num_rows else []
    times = result.events["event_time"]
    common = {"source": files.location(value), "files": result.files}
    return [
        StageReport(
            key("events_quarantine"),
            value,
            result.quarantine.num_rows,
            {**common, "reasons": result.reasons, "path": quarantine.path},
        ),
        StageReport(
            key("events"),
            value,
            result.events.num_rows,
            {
                **common,
                "events_by_action": {a["values"]: a["counts"] for a in actions},
                "quarantined": result.quarantine.num_rows,
                "redelivered_dropped": result.duplicates_dropped,
                "first_event_time": _iso(pc.min(times).as_py()) if len(times) else "none",
                "last_event_time": _iso(pc.max(times).as_py()) if len(times) else "none",
                "fields_outside_schema": result.unmapped_fields,
                "note": "" if listed else f"no event files in {files.location(value)}",
                "path": events.path,
                "bytes_written": events.bytes_written,
            },
        ),
    ]


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "none"


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Base:
    stage: str  # "initial_state" or "snapshot"
    value: str

    @property
    def label(self) -> str:
        return f"{self.stage}:{self.value}"

    @classmethod
    def parse(cls, label: str) -> "Base":
        stage, _, value = label.partition(":")
        return cls(stage, value)


def choose_base(lake: Lake, value: str) -> tuple[Base, list[str]]:
    """The base for snapshot ``value`` and the events partitions to apply on it."""
    snapshots = [p for p in tenure_table(lake, "snapshot").partitions() if p < value]
    extracts = [p for p in tenure_table(lake, "initial_state").partitions() if p <= value]
    events = tenure_table(lake, "events").partitions()
    if extracts and (not snapshots or extracts[-1] > snapshots[-1]):
        base = Base("initial_state", extracts[-1])
        pending = [p for p in events if base.value <= p <= value]
    elif snapshots:
        base = Base("snapshot", snapshots[-1])
        pending = [p for p in events if base.value < p <= value]
    else:
        raise DataError(
            f"tenure snapshot partition {value}: no initial_state partition on or before it "
            f"and no earlier snapshot ({tenure_table(lake, 'initial_state').location()}); "
            "materialise tenure/initial_state first"
        )
    return base, pending


def _read_events(lake: Lake, partitions: list[str]) -> pa.Table:
    table = tenure_table(lake, "events")
    if not partitions:
        return EVENT_SCHEMA.empty_table()
    return unify([table.read(p, columns=EVENT_SCHEMA.names) for p in partitions], "tenure events")


def _tombstones(lake: Lake, value: str) -> list[pa.Table]:
    table = tenure_table(lake, "deletions")
    return [
        table.read(p, columns=["id", "deleted_at", "event_id"])
        for p in table.partitions()
        if p < value
    ]


def build_snapshot(lake: Lake, day: date, engine: Engine = DEFAULT_ENGINE) -> list[StageReport]:
    """Base + pending events -> snapshot; the run's tombstones -> deletions (published first).

    A day without an events partition (no files landed, or not compacted yet) is not an
    error: a re-sync or a backfill may build it, and the day's events re-run it when they land.
    The transform runs on ``engine`` (pyarrow by default, Spark when configured); both read and
    write the same layout, so consecutive days may run on different engines.
    """
    value = yyyymmdd(day)
    base, pending = choose_base(lake, value)
    base_rows = engine.read(tenure_table(lake, base.stage), [base.value])
    events = engine.read(tenure_table(lake, "events"), pending)
    deletions_table = tenure_table(lake, "deletions")
    earlier = [p for p in deletions_table.partitions() if p < value]
    tombstones = engine.read(deletions_table, earlier) if earlier else None
    result = engine.apply_events(
        base_rows,
        events,
        tombstones,
        model=TENURE_EVENTS,
        snapshot_value=value,
        what=f"tenure {base.label}",
    )
    deletions = engine.write(deletions_table, value, result.tombstones)
    notes = {
        BASE_KEY: base.label,
        APPLIED_KEY: json.dumps(pending),
        UNKNOWN_KEY: json.dumps([e["event_id"] for e in result.unknown_entity_events]),
    }
    written = engine.write(tenure_table(lake, "snapshot"), value, result.state, notes)
    return [
        StageReport(
            key("deletions"),
            value,
            deletions.rows,
            {
                "of_unknown_entities": result.counts["unknown_entity_deleted"],
                "engine": engine.name,
                "path": deletions.path,
            },
        ),
        StageReport(
            key("snapshot"),
            value,
            written.rows,
            {
                "base": base.label,
                "base_rows": result.base_rows,
                "events_partitions_applied": pending,
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


# --------------------------------------------------------------------------- rules


def id_outcome(table: pa.Table) -> RuleOutcome:
    """The id column unique and never null."""
    if ID not in table.column_names:
        if table.num_rows == 0:
            return RuleOutcome(True, "no rows", {"rows": 0})
        return RuleOutcome(False, "no id column", {"rows": table.num_rows})
    nulls = table[ID].null_count
    duplicates = duplicate_count(table, [ID])
    passed = nulls == 0 and duplicates == 0
    return RuleOutcome(
        passed,
        "id unique and complete"
        if passed
        else f"{duplicates} duplicate rows and {nulls} null values in id",
        {"rows": table.num_rows, "duplicate_rows": duplicates, "null_ids": nulls},
    )


def stage_id_outcome(lake: Lake, stage: str, value: str) -> RuleOutcome:
    return id_outcome(tenure_table(lake, stage).read(value, columns=[ID]))


def quarantine_outcome(lake: Lake, value: str) -> RuleOutcome:
    """Every event of the day parsed (the quarantine partition is empty)."""
    rows = tenure_table(lake, "events_quarantine").read(value, columns=["source_file", "reason"])
    counts: dict[str, int] = {}
    for reason in rows["reason"].to_pylist():
        head = reason.split(":")[0]
        counts[head] = counts.get(head, 0) + 1
    return RuleOutcome(
        rows.num_rows == 0,
        "every event file parsed"
        if rows.num_rows == 0
        else f"{rows.num_rows} malformed events quarantined",
        {
            "quarantined": rows.num_rows,
            "reasons": counts,
            "files_sample": rows["source_file"].to_pylist()[:SAMPLE],
        },
    )


def unknown_events_outcome(lake: Lake, value: str) -> RuleOutcome:
    """Every event the snapshot applied to an entity it did not know was reported.

    Recounted independently from the snapshot's recorded base and events partitions: an update
    or deletion whose entity was in neither the base, the earlier tombstones nor an earlier
    event of the run.
    """
    notes = tenure_table(lake, "snapshot").file_metadata(value)
    if BASE_KEY not in notes:
        return RuleOutcome(False, f"snapshot {value} has no record of its base", {})
    base = Base.parse(notes[BASE_KEY])
    applied = json.loads(notes.get(APPLIED_KEY, "[]"))
    reported = set(json.loads(notes.get(UNKNOWN_KEY, "[]")))
    base_ids = tenure_table(lake, base.stage).read(base.value, columns=[ID])[ID].to_pylist()
    computed = unknown_entity_events(
        base_ids, _read_events(lake, applied), _tombstones(lake, value)
    )
    unreported = [e for e in computed if e not in reported]
    return RuleOutcome(
        not unreported,
        f"{len(computed)} events applied to unknown entities, all reported"
        if not unreported
        else f"{len(unreported)} events applied to unknown entities were not reported",
        {
            "base": base.label,
            "events_partitions": applied,
            "unknown_entity_events": len(computed),
            "reported": len(reported),
            "unreported_sample": unreported[:SAMPLE],
        },
    )


@dataclass
class StateDiff:
    missing: list[str]
    extra: list[str]
    changed: list[str]
    changed_columns: dict[str, int]

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.changed)


def compare_states(expected: pa.Table, actual: pa.Table) -> StateDiff:
    """Entities in ``expected`` (a fresh extract) vs ``actual`` (a snapshot), canonical columns.

    missing: in the extract, not in the snapshot; extra: in the snapshot, gone from the
    extract; changed: in both with a different value in some column.
    """
    left = {r[ID]: r for r in conform(expected, "tenure extract").to_pylist()}
    right = {r[ID]: r for r in conform(actual, "tenure snapshot").to_pylist()}
    changed, columns = [], {}
    for entity in sorted(left.keys() & right.keys()):
        differing = [c for c in TENURE_COLUMNS if left[entity][c] != right[entity][c]]
        if differing:
            changed.append(entity)
            for column in differing:
                columns[column] = columns.get(column, 0) + 1
    return StateDiff(
        sorted(left.keys() - right.keys()), sorted(right.keys() - left.keys()), changed, columns
    )


def consistency_outcome(lake: Lake, value: str) -> RuleOutcome:
    """Compare the initial extract ``value`` with the newest snapshot on or before it that was
    not itself built on this extract: how many entities are missing, extra or changed.

    Events landed after that snapshot show up as differences too; differences that persist
    from one comparison to the next are drift, repaired by re-syncing (a snapshot built on the
    extract).
    """
    snapshots = tenure_table(lake, "snapshot")
    candidates = [p for p in snapshots.partitions() if p <= value]
    own = Base("initial_state", value).label
    compared = next(
        (p for p in reversed(candidates) if snapshots.file_metadata(p).get(BASE_KEY) != own),
        None,
    )
    if compared is None:
        return RuleOutcome(
            True, "no snapshot built from events to compare with yet", {"compared_with": "none"}
        )
    diff = compare_states(tenure_table(lake, "initial_state").read(value), snapshots.read(compared))
    metadata = {
        "compared_snapshot_date": compared,
        "missing": len(diff.missing),
        "extra": len(diff.extra),
        "changed": len(diff.changed),
        "changed_columns": diff.changed_columns,
        "missing_sample": diff.missing[:SAMPLE],
        "extra_sample": diff.extra[:SAMPLE],
        "changed_sample": diff.changed[:SAMPLE],
    }
    if diff.total == 0:
        return RuleOutcome(True, f"extract {value} matches snapshot {compared}", metadata)
    return RuleOutcome(
        False,
        f"extract {value} vs snapshot {compared}: {len(diff.missing)} missing, "
        f"{len(diff.extra)} extra, {len(diff.changed)} changed",
        metadata,
    )
