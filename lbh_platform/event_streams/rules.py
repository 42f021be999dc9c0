"""The rules behind an event-streamed entity's checks, recomputed from what is stored.

Each takes the lake, the entity and a partition value and returns a :class:`RuleOutcome`;
nothing here imports Dagster (the checks in ``lbh_platform.defs.event_streams`` wrap them).
"""

import json
from dataclasses import dataclass

import pyarrow as pa

from lbh_platform.common import event_state
from lbh_platform.common.quality import RuleOutcome, duplicate_count
from lbh_platform.common.rows import unify
from lbh_platform.event_streams import inputs as record
from lbh_platform.event_streams.events import reason_counts
from lbh_platform.event_streams.inputs import Base, Inputs, describe_problems
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.spec import EventStream
from lbh_platform.storage.lake import Lake

SAMPLE = 20


def id_outcome(table: pa.Table, key: str) -> RuleOutcome:
    """The key column unique and never null (compared as text: "1" and "01" are two ids)."""
    if key not in table.column_names:
        if table.num_rows == 0:
            return RuleOutcome(True, "no rows", {"rows": 0})
        return RuleOutcome(False, f"no {key} column", {"rows": table.num_rows})
    nulls = table[key].null_count
    duplicates = duplicate_count(table, [key])
    passed = nulls == 0 and duplicates == 0
    return RuleOutcome(
        passed,
        f"{key} unique and complete"
        if passed
        else f"{duplicates} duplicate rows and {nulls} null values in {key}",
        {"rows": table.num_rows, "duplicate_rows": duplicates, "null_ids": nulls},
    )


def stage_id_outcome(lake: Lake, stream: EventStream, stage: str, value: str) -> RuleOutcome:
    table = stage_table(lake, stream, stage).read(value, columns=[stream.key])
    return id_outcome(table, stream.key)


def quarantine_outcome(lake: Lake, stream: EventStream, value: str) -> RuleOutcome:
    """Every event of the day parsed (the quarantine partition is empty)."""
    rows = stage_table(lake, stream, "events_quarantine").read(
        value, columns=["source_file", "reason"]
    )
    return RuleOutcome(
        rows.num_rows == 0,
        "every event file parsed"
        if rows.num_rows == 0
        else f"{rows.num_rows} malformed events quarantined",
        {
            "quarantined": rows.num_rows,
            "reasons": reason_counts(rows["reason"].to_pylist()),
            "files_sample": rows["source_file"].to_pylist()[:SAMPLE],
        },
    )


def raw_files_outcome(lake: Lake, stream: EventStream, value: str) -> RuleOutcome:
    """The day's raw files now are the ones compacted (count and newest file time), and every
    event read is accounted for (used, quarantined or a redelivery)."""
    inputs = Inputs(lake, stream)
    comparison = inputs.compare(value)
    notes = inputs.footer("events", value)
    read = notes.get(record.EVENTS_READ_KEY)
    events = stage_table(lake, stream, "events").read(value, columns=["event_id"]).num_rows
    quarantined = stage_table(lake, stream, "events_quarantine").read(value, columns=[]).num_rows
    metadata = {
        "raw_files_now": comparison.files_now,
        "raw_files_compacted": comparison.files_compacted
        if comparison.files_compacted is not None
        else "not recorded",
        "newest_raw_file_now": comparison.newest_now or "none",
        "newest_raw_file_compacted": comparison.newest_compacted or "none",
        "events_read": read or "not recorded",
        "events": events,
        "quarantined": quarantined,
        "source": inputs.sink.location(value),
    }
    state = comparison.state
    if state == "outdated":
        return RuleOutcome(
            False,
            f"raw folder {value} has {comparison.files_now} files (newest "
            f"{comparison.newest_now or 'none'}), the events were compacted from "
            f"{metadata['raw_files_compacted']} (newest {metadata['newest_raw_file_compacted']}):"
            " compact the day again",
            metadata,
        )
    if read is not None and int(read) < events + quarantined:
        return RuleOutcome(False, f"{events + quarantined} rows from {read} events read", metadata)
    if state == "raw_gone":
        return RuleOutcome(True, "raw files since removed; the compacted events are kept", metadata)
    return RuleOutcome(True, f"all {comparison.files_now} raw files compacted", metadata)


def fields_outcome(lake: Lake, stream: EventStream, value: str) -> RuleOutcome:
    """Every field in the day's events is in the configured schema (a newer schema version's
    fields are counted, not stored, until the schema file is updated)."""
    notes = stage_table(lake, stream, "events").file_metadata(value)
    outside = json.loads(notes.get(record.OUTSIDE_SCHEMA_KEY, "{}"))
    return RuleOutcome(
        not outside,
        "every field is in the schema"
        if not outside
        else f"{len(outside)} fields outside the configured schema (not stored): "
        f"{', '.join(sorted(outside)[:5])}",
        {"fields_outside_schema": outside, "schema_file": str(stream.schema_path.name)},
    )


def inputs_outcome(lake: Lake, stream: EventStream, value: str) -> RuleOutcome:
    """The snapshot holds every event landed in its window: every raw folder compacted, every
    events partition applied in the version compacted now, on the base as it is now."""
    inputs = Inputs(lake, stream)
    notes = inputs.footer("snapshot", value)
    problems = inputs.snapshot_problems(value)
    metadata = {
        "base": notes.get(record.BASE_KEY, "none"),
        "events_partitions_applied": json.loads(notes.get(record.APPLIED_KEY, "[]")),
        **{k: v for k, v in problems.items()},
    }
    if not problems:
        return RuleOutcome(True, "every events partition of its window applied", metadata)
    return RuleOutcome(
        False,
        f"snapshot {value} is stale ({describe_problems(problems)}); it is rebuilt in order "
        f"by the {stream.name}_stale_snapshots sensor",
        metadata,
    )


def _read_events(lake: Lake, stream: EventStream, partitions: list[str]) -> pa.Table:
    table = stage_table(lake, stream, "events")
    if not partitions:
        return stream.event_schema.empty_table()
    names = stream.event_schema.names
    return unify([table.read(p, columns=names) for p in partitions], f"{stream.label} events")


def _tombstones(lake: Lake, stream: EventStream, value: str) -> list[pa.Table]:
    table = stage_table(lake, stream, "deletions")
    return [
        table.read(p, columns=["id", "deleted_at", "event_id"])
        for p in table.partitions()
        if p < value
    ]


def unknown_events_outcome(lake: Lake, stream: EventStream, value: str) -> RuleOutcome:
    """Every event the snapshot applied to an entity it did not know was reported.

    Recounted independently from the snapshot's recorded base and events partitions: an update
    or deletion whose entity was in neither the base, the earlier tombstones nor an earlier
    event of the run.
    """
    notes = stage_table(lake, stream, "snapshot").file_metadata(value)
    if record.BASE_KEY not in notes:
        return RuleOutcome(False, f"snapshot {value} has no record of its base", {})
    base = Base.parse(notes[record.BASE_KEY])
    applied = json.loads(notes.get(record.APPLIED_KEY, "[]"))
    reported = set(json.loads(notes.get(record.UNKNOWN_KEY, "[]")))
    key = stream.key
    base_ids = stage_table(lake, stream, base.stage).read(base.value, columns=[key])[key]
    computed = event_state.unknown_entity_events(
        stream.model,
        base_ids.to_pylist(),
        _read_events(lake, stream, applied),
        _tombstones(lake, stream, value),
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


def compare_states(stream: EventStream, expected: pa.Table, actual: pa.Table) -> StateDiff:
    """Entities in ``expected`` (a fresh extract) vs ``actual`` (a snapshot), canonical columns.

    missing: in the extract, not in the snapshot; extra: in the snapshot, gone from the
    extract; changed: in both with a different value in some column.
    """
    key, schema = stream.key, stream.schema
    left = {r[key]: r for r in schema.conform(expected, f"{stream.label} extract").to_pylist()}
    right = {r[key]: r for r in schema.conform(actual, f"{stream.label} snapshot").to_pylist()}
    changed, columns = [], {}
    for entity in sorted(left.keys() & right.keys()):
        differing = [c for c in schema.columns if left[entity][c] != right[entity][c]]
        if differing:
            changed.append(entity)
            for column in differing:
                columns[column] = columns.get(column, 0) + 1
    return StateDiff(
        sorted(left.keys() - right.keys()), sorted(right.keys() - left.keys()), changed, columns
    )


def consistency_outcome(lake: Lake, stream: EventStream, value: str) -> RuleOutcome:
    """Compare the initial extract ``value`` with the newest snapshot on or before it that was
    not itself built on this extract: how many entities are missing, extra or changed.

    Events landed after that snapshot show up as differences too; differences that persist
    from one comparison to the next are drift, repaired by re-syncing (a snapshot built on the
    extract).
    """
    snapshots = stage_table(lake, stream, "snapshot")
    candidates = [p for p in snapshots.partitions() if p <= value]
    own = Base("initial_state", value).label
    compared = next(
        (p for p in reversed(candidates) if snapshots.file_metadata(p).get(record.BASE_KEY) != own),
        None,
    )
    if compared is None:
        return RuleOutcome(
            True, "no snapshot built from events to compare with yet", {"compared_with": "none"}
        )
    extract = stage_table(lake, stream, "initial_state").read(value)
    diff = compare_states(stream, extract, snapshots.read(compared))
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
