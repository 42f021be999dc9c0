"""A table's history kept current: what the wiring calls per table, per partition or range.

- :func:`update` (daily, and for a ranged run: once, with the range's last day): brings the
  history up to snapshot ``value``. New batches become day segments (cost: the batch's rows);
  a batch that changed since it was applied (a re-run snapshot or increment) rewrites the day
  segments from it, or, when it is already compacted or many batches are missing, the history
  is rebuilt in one pass. Then compacts when the policy says so.
- :func:`rebuild`: the whole history from every stored increment, in one pass.
- :func:`as_of`, :func:`versions`: read it (the records as of a day; every version, exact).

Every write goes through the commit protocol of :mod:`lbh_platform.history.segments`: a
writer first finishes what a killed one left (removes orphans and replaced segments), so a
failure at any point leaves the history answering as it did before or as it does after.
"""

import logging
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from lbh_platform.common.errors import DataError
from lbh_platform.common.stage_report import StageReport
from lbh_platform.history import batches as batching
from lbh_platform.history import segments
from lbh_platform.history.batches import Batch
from lbh_platform.history.segments import Policy, Segment, State
from lbh_platform.history.source import HistorySource
from lbh_platform.storage.partitioned_table import DATA_FILE, PartitionedTable

log = logging.getLogger(__name__)
DEFAULT_POLICY = Policy()


def _default_engine() -> Any:
    from lbh_platform.engines.arrow_engine import ArrowEngine

    return ArrowEngine()


# (segment file, when it was written) -> its Segment: a published file never changes (a
# re-written day segment is a new file, written later), so its footer is read once a process.
_footers: dict[tuple[str, float], Segment] = {}


def load(history: PartitionedTable) -> list[Segment]:
    """Every published segment with its footer notes and row count."""
    found = []
    for name, written in sorted(history.written().items()):
        path = f"{history.partition_dir(name)}/{DATA_FILE}"
        segment = _footers.get((path, written))
        if segment is None:
            with history.fs.open_input_file(path) as source:
                metadata = pq.read_metadata(source)
            raw = metadata.metadata or {}
            notes = {k.decode(): v.decode() for k, v in raw.items() if not k.startswith(b"ARROW")}
            segment = Segment(name, notes, metadata.num_rows)
            _footers[(path, written)] = segment
        found.append(segment)
    return found


def state_of(history: PartitionedTable) -> State:
    """The live segments (what readers use)."""
    return segments.live(load(history))


def settle(history: PartitionedTable) -> State:
    """As :func:`state_of`, after removing what a killed or finished writer left: orphans of
    operations that never committed, then what commits replaced, in the commits' order."""
    state = state_of(history)
    for name in [*state.orphans, *state.pending_removal]:
        log.info("%s: removing segment %s (orphaned or replaced)", history.display, name)
        history.remove_partition(name)
    if state.orphans or state.pending_removal:
        state = state_of(history)
    return state


@dataclass
class _Run:
    """What one call did, for its report."""

    applied: list[str]
    versions: int = 0
    tombstones: int = 0
    increment_rows: int = 0
    rows_without_id: int = 0
    bytes_written: int = 0
    compaction: str = "none"
    rebuilt: bool = False


def _plan(source: HistorySource, state: State, upto: str) -> list[Batch]:
    snapshots = source.snapshots.written() if source.snapshots is not None else None
    return batching.plan(
        source.increments.written(), snapshots, source.applied, state.batches, upto, source.what
    )


def update(
    source: HistorySource, value: str, engine: Any = None, policy: Policy = DEFAULT_POLICY
) -> StageReport:
    """Bring ``source``'s history up to snapshot ``value`` (see the module docstring)."""
    engine = engine or _default_engine()
    if source.snapshots is not None and not source.snapshots.exists(value):
        raise DataError(
            f"{source.what} {value}: snapshot {value} is not published "
            f"({source.snapshots.location(value)}); the history follows the snapshots: "
            "materialise it first"
        )
    state = settle(source.history)
    recorded = state.batches
    upto = max([value, *(b.valid_from for b in recorded)])
    planned = _plan(source, state, upto)
    first = batching.first_difference(recorded, planned)
    run = _Run([])
    if first is not None:
        pending = [b for b in planned if b.valid_from >= first]
        compacted = state.compacted_until
        if not pending or len(pending) > policy.catch_up or (compacted and first <= compacted):
            log.info(
                "%s: rebuilding in one pass (%d batches; first change %s, compacted until %s)",
                source.what, len(planned), first, compacted,
            )  # fmt: skip
            return _report(source, value, _rebuild(source, engine, policy, state, planned), engine)
        stale = [
            s for s in state.of_kind("day")
            if s.batches and s.batches[0].valid_from >= first
            and s.batches[0].valid_from not in {b.valid_from for b in pending}
        ]  # fmt: skip
        for index, batch in enumerate(pending):
            replaced = stale if index == len(pending) - 1 else []
            like = state.base.name if state.base is not None else None
            _write_day(source, engine, batch, replaced, run, state.next_sequence + index, like)
        state = state_of(source.history)
    if policy.major_due(state):
        _major(source, engine, state, run)
    elif policy.minor_due(state):
        _minor(source, engine, state, run, policy)
    return _report(source, value, run, engine)


def _write_day(
    source: HistorySource,
    engine: Any,
    batch: Batch,
    replaced: list[Segment],
    run: _Run,
    sequence: int,
    like: str | None,
) -> None:
    operation = segments.new_operation()
    notes = {
        **segments.notes_for("day", operation, sequence, source.id_column, [batch]),
        **segments.commit_notes(replaced),
    }
    increments = engine.read(source.increments, list(batch.imports))
    try:
        day = engine.history().write_day(
            source.history,
            segments.day_name(batch.valid_from),
            increments,
            source.id_column,
            batch.valid_from,
            source.deleted_ids(batch.valid_from, batch.imports),
            notes,
            like,
        )
    except DataError as exc:
        raise DataError(f"{source.what} batch {batch.valid_from}: {exc}") from exc
    for segment in replaced:
        source.history.remove_partition(segment.name)
    run.applied.append(batch.valid_from)
    run.versions += day.versions
    run.tombstones += day.tombstones
    run.increment_rows += day.increment_rows
    run.rows_without_id += day.rows_without_id
    run.bytes_written += day.written.bytes_written
    log.info(
        "%s: batch %s (imports %s): %d versions, %d tombstones",
        source.what, batch.valid_from, ", ".join(batch.imports), day.versions, day.tombstones,
    )  # fmt: skip


def _finish(history: PartitionedTable, replaced: list[Segment]) -> None:
    """Remove what a just-committed operation replaced, in the commit's order."""
    by_name = {s.name: s for s in replaced}
    for name, _ in segments.removal_order(replaced):
        if name in by_name:
            history.remove_partition(name)


def _minor(source: HistorySource, engine: Any, state: State, run: _Run, policy: Policy) -> None:
    merged = policy.minor_inputs(state)
    found = [b for s in merged for b in s.batches]
    operation = segments.new_operation()
    name = segments.recent_name(found[0].valid_from, found[-1].valid_from, operation)
    notes = {
        **segments.notes_for("recent", operation, state.next_sequence, source.id_column, found),
        **segments.commit_notes(merged),
    }
    written = engine.history().merge_open(
        source.history, name, [s.name for s in merged], source.id_column, notes
    )
    _finish(source.history, merged)
    run.compaction = f"minor: {len(merged)} segments into {name}"
    run.bytes_written += written.bytes_written


def _major(source: HistorySource, engine: Any, state: State, run: _Run) -> None:
    sources = state.open_segments
    found = [b for s in sources for b in s.batches]
    until = found[-1].valid_from
    base = state.base
    after = max((b.valid_from for b in base.batches), default="00000000") if base else "00000000"
    operation = segments.new_operation()
    closed = segments.closed_name(after, until, operation)
    closed_notes = {
        **segments.notes_for("closed", operation, state.next_sequence, source.id_column),
        segments.CLOSED_AFTER: after,
        segments.CLOSED_UNTIL: until,
    }
    base_name = segments.base_name(until, operation)
    base_notes = {
        **segments.notes_for("base", operation, state.next_sequence, source.id_column, found),
        **segments.commit_notes(sources),
    }
    result = engine.history().compact(
        source.history,
        [s.name for s in sources],
        source.id_column,
        (closed, closed_notes),
        (base_name, base_notes),
    )
    _finish(source.history, sources)
    closed_rows = result.closed.rows if result.closed else 0
    run.compaction = (
        f"major: {len(sources)} open segments ({result.rows_read} rows) into {base_name} "
        f"({result.base.rows} current) and {closed_rows} ended versions"
    )
    run.bytes_written += result.base.bytes_written + (
        result.closed.bytes_written if result.closed else 0
    )


def _rebuild(
    source: HistorySource, engine: Any, policy: Policy, state: State, planned: list[Batch]
) -> _Run:
    if not planned:
        raise DataError(f"{source.what}: nothing to build: no increment is applied by a snapshot")
    operation = segments.new_operation()
    base_notes = {
        **segments.notes_for("base", operation, state.next_sequence, source.id_column, planned),
        **segments.commit_notes(state.segments),
    }
    try:
        result = engine.history().rebuild(
            source.history,
            source.increments,
            planned,
            source.id_column,
            {
                b.valid_from: ids
                for b in planned
                if (ids := source.deleted_ids(b.valid_from, b.imports)) is not None
            },
            operation,
            policy.closed_share,
            base_notes,
        )
    except DataError as exc:
        raise DataError(f"{source.what}: rebuild: {exc}") from exc
    _finish(source.history, state.segments)
    return _Run(
        [b.valid_from for b in planned],
        versions=result.versions,
        increment_rows=result.increment_rows,
        rows_without_id=result.rows_without_id,
        bytes_written=sum(w.bytes_written for w in result.segments),
        compaction=f"rebuild: {len(result.segments)} segments, {result.current} current",
        rebuilt=True,
    )


def rebuild(
    source: HistorySource,
    engine: Any = None,
    policy: Policy = DEFAULT_POLICY,
    upto: str | None = None,
) -> StageReport:
    """The whole history from every stored increment, in one pass (up to snapshot ``upto``;
    None: every batch there is)."""
    engine = engine or _default_engine()
    state = settle(source.history)
    planned = _plan(source, state, upto or "99999999")
    last = planned[-1].valid_from if planned else (upto or "")
    return _report(source, last, _rebuild(source, engine, policy, state, planned), engine)


def compact(
    source: HistorySource, engine: Any = None, policy: Policy = DEFAULT_POLICY, minor: bool = False
) -> StageReport:
    """A compaction now, whatever the policy says: major (the base rewritten, ended versions
    moved to a closed segment) or, with ``minor``, the day segments merged."""
    engine = engine or _default_engine()
    state = settle(source.history)
    run = _Run([])
    if minor and state.of_kind("day"):
        _minor(source, engine, state, run, policy)
    elif not minor and state.open_segments:
        _major(source, engine, state, run)
    last = state.batches[-1].valid_from if state.batches else ""
    return _report(source, last, run, engine)


def _id_column(state: State, history: PartitionedTable) -> str:
    for segment in state.segments:
        column = segment.notes.get(segments.ID_COLUMN)
        if column:
            return column
    raise DataError(f"{history.display}: the history has no segment")


def as_of(history: PartitionedTable, value: str, engine: Any = None) -> Any:
    """The records as of day ``value`` (YYYYMMDD), as snapshot ``value`` holds them."""
    engine = engine or _default_engine()
    state = state_of(history)
    column = _id_column(state, history)
    return engine.history().as_of(history, state.names(), column, value)


def versions(history: PartitionedTable, engine: Any = None) -> Any:
    """Every version once, with its exact ``valid_to``, ``is_deleted`` and ``is_current``."""
    engine = engine or _default_engine()
    state = state_of(history)
    return engine.history().versions(history, state.names(), _id_column(state, history))


def _report(source: HistorySource, value: str, run: _Run, engine: Any) -> StageReport:
    state = state_of(source.history)
    return StageReport(
        "history",
        value,
        run.versions,
        {
            "batches_applied": run.applied,
            "rebuilt": run.rebuilt,
            "versions_written": run.versions,
            "tombstones_written": run.tombstones,
            "increment_rows": run.increment_rows,
            "rows_without_id_skipped": run.rows_without_id,
            "compaction": run.compaction,
            "segments": {k: len(state.of_kind(k)) for k in segments.KINDS},
            "history_rows": sum(s.rows for s in state.segments),
            "engine": engine.name,
            "path": source.history.location(),
            "bytes_written": run.bytes_written,
        },
        table=source.table,
    )


def behind(source: HistorySource, value: str) -> str | None:
    """Why the history does not hold snapshot ``value`` as its inputs are now (a batch up to
    ``value`` missing, or applied from an increment re-written since), or None: it does."""
    state = state_of(source.history)
    if not state.segments:
        return "the history has no segment: materialise it"
    recorded = [b for b in state.batches if b.valid_from <= value]
    planned = [b for b in _plan(source, state, value) if b.valid_from <= value]
    first = batching.first_difference(recorded, planned)
    if first is None:
        return None
    return (
        f"its batch {first} is not as its inputs are now (missing, or an input re-written "
        "since it was applied): materialise the history again"
    )
