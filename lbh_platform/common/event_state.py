"""Change events applied, in event-time order, to a state table: for any event-streamed source.

Every event carries the entity's whole new state, so applying is a per-entity decision:
created and updated events replace the row; a deleted event removes it and records a
tombstone (id, deletion time, event id). Each state row remembers the event that produced it
(``last_event_time``, ``last_event_id``; null for rows from an initial extract), and each
tombstone its deletion time, which makes the result idempotent and safe against late events:

- an event older than the entity's current state, or than its tombstone, is stale and skipped;
- an event that already produced the current row or tombstone is skipped as already applied;

so applying the same events twice, or a day's events onto a state that already has them,
changes nothing. Events for entities the state has never seen (an update or a deletion with no
row and no tombstone) are still applied, because an event holds the whole state, but are
counted and listed so a check can prove none went unreported.

A source describes itself with an :class:`EventModel` (its id column, entity schema, compacted
events schema and event order); the engines take the model from the stage and import no
source. Only the entities touched by events leave Arrow; the rest of the state is filtered and
concatenated in bulk. The Spark engine implements the same rules with DataFrame operations
(:mod:`lbh_platform.engines.spark_events`); both are reached through ``Engine.apply_events``.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP = pa.timestamp("us", tz="UTC")
# Every compacted events schema has these header columns (``action``: created, updated, deleted).
EVENT_HEADER: tuple[str, ...] = ("event_id", "action", "event_time")
STATE_EXTRA_FIELDS = [
    pa.field("last_event_time", TIMESTAMP),
    pa.field("last_event_id", pa.string()),
    pa.field("last_event_action", pa.string()),
]
TOMBSTONE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("deleted_at", TIMESTAMP),
        pa.field("event_id", pa.string()),
        pa.field("entity_known", pa.bool_()),
    ]
)
OUTCOMES = (
    "inserted",
    "updated",
    "deleted",
    "unknown_entity_updated",
    "unknown_entity_deleted",
    "stale",
    "already_applied",
)


def conform_to(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in order and type (nested structs by field
    name, as pyarrow's cast), absent ones null, any other column dropped."""
    columns = []
    for spec in schema:
        if spec.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, spec.type))
            continue
        column = table[spec.name]
        if column.type != spec.type:
            try:
                column = column.cast(spec.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"{what}: column {spec.name} is {column.type}, expected {spec.type}: {exc}"
                ) from exc
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


@dataclass(frozen=True)
class EventModel:
    """What applying one source's change events needs to know about that source.

    ``entity_schema``: the state's entity columns (the id among them, a string);
    ``event_schema``: the compacted events (``EVENT_HEADER``, the entity columns, and the
    columns ``order`` sorts by); ``order``: pyarrow sort keys giving event-time order, ties
    broken by delivery position."""

    entity: str  # names the source in messages ("tenure")
    id_column: str
    entity_schema: pa.Schema
    event_schema: pa.Schema
    order: tuple[tuple[str, str], ...]

    @property
    def entity_columns(self) -> tuple[str, ...]:
        return tuple(self.entity_schema.names)

    @property
    def state_schema(self) -> pa.Schema:
        return pa.schema(list(self.entity_schema) + STATE_EXTRA_FIELDS)

    @property
    def order_columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.order)

    def order_events(self, events: pa.Table) -> pa.Table:
        """Event-time order (a stable sort: full ties keep their input order)."""
        if events.num_rows < 2:
            return events
        return events.take(pc.sort_indices(events, sort_keys=list(self.order)))

    def as_state(self, table: pa.Table, what: str) -> pa.Table:
        """A snapshot or an extract as a state table: the entity columns plus the
        ``last_event_*`` columns (null when the table has none, as an extract)."""
        return conform_to(table, self.state_schema, what)

    def conform_events(self, events: pa.Table) -> pa.Table:
        """Events in the compacted events schema (an events partition written before a column
        existed gets it as null)."""
        return conform_to(events, self.event_schema, f"{self.entity} events")


@dataclass
class _Present:
    time: datetime | None
    event_id: str | None
    row: int | None  # index into the events table; None: the base row


@dataclass
class _Deleted:
    time: datetime
    event_id: str


@dataclass
class ApplyResult:
    """The new state, the tombstones this application recorded, counts per outcome, and the
    events applied to entities the state did not know (event_id, id, action)."""

    state: pa.Table
    tombstones: pa.Table
    counts: dict[str, int] = field(default_factory=dict)
    unknown_entity_events: list[dict[str, str]] = field(default_factory=list)


def _latest_tombstones(tombstones: Iterable[pa.Table], ids: set[str]) -> dict[str, _Deleted]:
    latest: dict[str, _Deleted] = {}
    for table in tombstones:
        if table is None or table.num_rows == 0:
            continue
        wanted = table.filter(pc.is_in(table["id"], pa.array(sorted(ids), pa.string())))
        for row in wanted.select(["id", "deleted_at", "event_id"]).to_pylist():
            known = latest.get(row["id"])
            if known is None or row["deleted_at"] >= known.time:
                latest[row["id"]] = _Deleted(row["deleted_at"], row["event_id"])
    return latest


def apply_events(
    model: EventModel,
    state: pa.Table,
    events: pa.Table,
    tombstones: Iterable[pa.Table] = (),
) -> ApplyResult:
    """Apply ``events`` (any columns; conformed to the model's events schema) to ``state``.

    ``tombstones`` are earlier deletions (any tables with id, deleted_at, event_id): they stop a
    late event from resurrecting a deleted entity and make re-applied deletions no-ops.
    """
    key = model.id_column
    state = model.as_state(state, f"{model.entity} state")
    counts = dict.fromkeys(OUTCOMES, 0)
    unknown: list[dict[str, str]] = []
    new_tombstones: list[dict[str, Any]] = []
    if events.num_rows == 0:
        return ApplyResult(_sorted(state, key), TOMBSTONE_SCHEMA.empty_table(), counts, unknown)
    events = model.order_events(model.conform_events(events))
    touched = set(events[key].to_pylist())
    current: dict[str, _Present | _Deleted] = {}
    base = state.filter(pc.is_in(state[key], pa.array(sorted(touched), pa.string())))
    for row in base.select([key, "last_event_time", "last_event_id"]).to_pylist():
        current[row[key]] = _Present(row["last_event_time"], row["last_event_id"], None)
    deleted_before = _latest_tombstones(tombstones, touched)
    for entity, tombstone in deleted_before.items():
        current.setdefault(entity, tombstone)

    columns = events.select(["event_id", "action", key, "event_time"]).to_pydict()
    header = (columns["event_id"], columns["action"], columns[key], columns["event_time"])
    for i, (event_id, action, entity, moment) in enumerate(zip(*header, strict=True)):
        entry = current.get(entity)
        if action == "deleted":
            if isinstance(entry, _Present):
                if entry.time is not None and entry.time > moment:
                    counts["stale"] += 1
                    continue
                outcome, known = "deleted", True
            elif isinstance(entry, _Deleted):
                if entry.event_id == event_id:
                    counts["already_applied"] += 1
                    continue
                if entry.time >= moment:
                    counts["stale"] += 1
                    continue
                # A later second deletion of a deleted entity: recorded, nothing to remove.
                outcome, known = "deleted", True
            else:
                outcome, known = "unknown_entity_deleted", False
                unknown.append({"event_id": event_id, "id": entity, "action": action})
            counts[outcome] += 1
            current[entity] = _Deleted(moment, event_id)
            new_tombstones.append(
                {"id": entity, "deleted_at": moment, "event_id": event_id, "entity_known": known}
            )
            continue
        # created / updated: the event's state replaces the row
        if isinstance(entry, _Present):
            if entry.event_id == event_id:
                counts["already_applied"] += 1
                continue
            if entry.time is not None and entry.time > moment:
                counts["stale"] += 1
                continue
            counts["updated"] += 1
        elif isinstance(entry, _Deleted):
            if entry.time >= moment:
                counts["stale"] += 1
                continue
            counts["inserted"] += 1  # re-created after its deletion
        elif action == "created":
            counts["inserted"] += 1
        else:
            counts["unknown_entity_updated"] += 1
            unknown.append({"event_id": event_id, "id": entity, "action": action})
        current[entity] = _Present(moment, event_id, i)

    replaced = {e for e, entry in current.items() if not _unchanged_base(entry)}
    kept = state.filter(pc.invert(pc.is_in(state[key], pa.array(sorted(replaced), pa.string()))))
    rows = sorted(
        entry.row
        for entry in current.values()
        if isinstance(entry, _Present) and entry.row is not None
    )
    chosen = events.take(pa.array(rows, pa.int64()))
    from_events = pa.Table.from_arrays(
        [chosen[c] for c in model.entity_columns]
        + [chosen["event_time"], chosen["event_id"], chosen["action"]],
        schema=model.state_schema,
    )
    merged = pa.concat_tables([kept, from_events])
    tombstone_table = pa.Table.from_pylist(new_tombstones, schema=TOMBSTONE_SCHEMA)
    return ApplyResult(_sorted(merged, key), tombstone_table, counts, unknown)


def _unchanged_base(entry: _Present | _Deleted) -> bool:
    """True when the entity keeps its base row (present, and no event replaced it)."""
    return isinstance(entry, _Present) and entry.row is None


def _sorted(state: pa.Table, key: str) -> pa.Table:
    if state.num_rows < 2:
        return state.combine_chunks()
    return state.take(pc.sort_indices(state, sort_keys=[(key, "ascending")])).combine_chunks()


def unknown_entity_events(
    model: EventModel,
    base_ids: Iterable[str],
    events: pa.Table,
    tombstones: Iterable[pa.Table] = (),
) -> list[str]:
    """Event ids that update or delete an entity never seen before them: not in the base, not
    in earlier tombstones, not named by an earlier event. An independent recount (no state
    rules) for the check that every such event was reported by :func:`apply_events`."""
    key = model.id_column
    known = set(base_ids)
    for table in tombstones:
        if table is not None:
            known.update(table["id"].to_pylist())
    found = []
    ordered = model.order_events(events).select(["event_id", "action", key]).to_pylist()
    for event in ordered:
        if event["action"] != "created" and event[key] not in known:
            found.append(event["event_id"])
        known.add(event[key])
    return found
