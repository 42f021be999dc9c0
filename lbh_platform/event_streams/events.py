"""Change events: read one sink file, validate, and compact a day into one ordered table.

The council's S3 sink writes one Parquet file per event (``<topic>+<partition>+<offset>
.snappy.parquet``), written by parquet-avro from the topic's Avro schema: the envelope (``Id``,
``EventType``, ``SourceDomain``, ``SourceSystem``, ``Version``, ``CorrelationId``, ``DateTime``
in Unix seconds, ``User``) and the entity's new state in one field (``Tenure``,
``ContactDetails``). A file is recognised by its content, not its name: Parquet (one event or
several; the older parquet-avro list layout and the current one read alike, enums read as
binary are text), else JSON (one object, or JSON lines).

Schema evolution (the registry's BACKWARD compatibility): a file written with an older schema
lacks newer optional fields, which read as null; a field the configured schema does not know
is counted per path (``fields_outside_schema``), never dropped silently. A ``float`` is read as
the shortest decimal that gives the same 32-bit value (``100.63``, not ``100.62999725``), as
JSON and DynamoDB show it.

A malformed event never fails the day: every per-event failure (bad values, overflowing times,
JSON nested too deeply, an unreadable Parquet file...) goes to the quarantine table with its
file, line (a JSON line, or a Parquet row) and reason, and the good events are still compacted.
A deletion needs only the entity's key (in the entity field, or ``EntityId``); the rest of its
state is read leniently. The compacted table is ordered by event time, then by the sink's
partition and offset (the order Kafka received them), so events in the same second keep their
order.
"""

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.event_streams.avro import ENVELOPE
from lbh_platform.event_streams.schema import (
    INT_MIN_DATE,
    MAX_SECONDS,
    TIMESTAMP,
    Conversion,
    ConversionError,
    EntitySchema,
    _short,
    snake_case,
    to_timestamp,
)

if TYPE_CHECKING:
    from lbh_platform.event_streams.spec import EventStream

HEADER_FIELDS: list[pa.Field] = [
    pa.field("event_id", pa.string()),
    pa.field("event_type", pa.string()),
    pa.field("action", pa.string()),
    pa.field("source_domain", pa.string()),
    pa.field("source_system", pa.string()),
    pa.field("version", pa.string()),
    pa.field("correlation_id", pa.string()),
    pa.field("event_time", TIMESTAMP),
    pa.field("user_name", pa.string()),
    pa.field("user_email", pa.string()),
]
SOURCE_FIELDS: list[pa.Field] = [
    pa.field("source_file", pa.string()),
    pa.field("source_line", pa.int32()),
    pa.field("kafka_partition", pa.int32()),
    pa.field("kafka_offset", pa.int64()),
]
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string()),
        pa.field("source_line", pa.int32()),
        pa.field("event_id", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("content", pa.string()),
    ]
)
ORDER = [
    ("event_time", "ascending", "at_end"),
    ("kafka_partition", "ascending", "at_end"),
    ("kafka_offset", "ascending", "at_end"),
    ("source_file", "ascending", "at_end"),
    ("source_line", "ascending", "at_end"),
]
MAX_CONTENT_CHARS = 100_000
PARQUET_MAGIC = b"PAR1"
ENTITY_ID_FIELD = "EntityId"  # where a deletion may carry its entity's key instead
_SINK_NAME = re.compile(r"^(?P<topic>.+)\+(?P<partition>\d+)\+(?P<offset>\d+)(\.[A-Za-z0-9.]+)?$")
_HEADER_TEXT = {
    "SourceDomain": "source_domain",
    "SourceSystem": "source_system",
    "Version": "version",
    "CorrelationId": "correlation_id",
}
_USER_FIELDS = ("Name", "Email")


def event_schema(schema: EntitySchema) -> pa.Schema:
    """The compacted events: header, the entity's columns, and where each event came from."""
    reserved = {f.name for f in HEADER_FIELDS + SOURCE_FIELDS}
    clashing = sorted(reserved & set(schema.columns))
    if clashing:
        raise ConfigurationError(
            f"{schema.entity}: entity columns {clashing} clash with the events table's own"
        )
    fields = [pa.field(f.name, f.arrow_type) for f in schema.fields]
    return pa.schema(HEADER_FIELDS + fields + SOURCE_FIELDS)


class EventError(ValueError):
    """Why one event cannot be used (becomes the quarantine ``reason``)."""


@dataclass(frozen=True)
class Rejection:
    source_file: str
    source_line: int | None
    reason: str
    event_id: str | None
    content: str

    def row(self) -> dict[str, Any]:
        return {
            "source_file": self.source_file,
            "source_line": self.source_line,
            "event_id": self.event_id,
            "reason": self.reason,
            "content": self.content[:MAX_CONTENT_CHARS],
        }


@dataclass
class Compaction:
    """One day's events, typed and ordered, plus what was quarantined or collapsed."""

    events: pa.Table
    quarantine: pa.Table
    files: int
    duplicates_dropped: int = 0
    unmapped_fields: dict[str, int] = field(default_factory=dict)

    @property
    def events_read(self) -> int:
        """Every event found in the files: used, quarantined or a redelivery."""
        return self.events.num_rows + self.quarantine.num_rows + self.duplicates_dropped

    @property
    def reasons(self) -> dict[str, int]:
        """Quarantined events per reason (the reason's first clause, so counts group)."""
        return reason_counts(self.quarantine["reason"].to_pylist())


def reason_counts(reasons: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in reasons:
        head = reason.split(":")[0]
        counts[head] = counts.get(head, 0) + 1
    return counts


def sink_position(name: str) -> tuple[int | None, int | None]:
    """(Kafka partition, offset) from a sink file name ``<topic>+<partition>+<offset>.<ext>``."""
    match = _SINK_NAME.match(name.rsplit("/", 1)[-1])
    if not match:
        return None, None
    partition, offset = int(match["partition"]), int(match["offset"])
    if partition >= 2**31 or offset >= 2**63:
        return None, None
    return partition, offset


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class EventReader:
    """Reads and validates one entity's event files (its :class:`EventStream`)."""

    def __init__(self, stream: "EventStream"):
        self.stream = stream
        self.schema = stream.schema
        self.event_schema = stream.event_schema
        self.entity_field = stream.entity_field
        key_field = next(f for f in self.schema.fields if f.name == stream.key)
        self.key_source = key_field.source_name
        self.known = set(ENVELOPE) | {stream.entity_field}

    # ------------------------------------------------------------------ one event

    @staticmethod
    def _identifier(value: Any, what: str, as_uuid: bool) -> str:
        """An id as sent (never normalised: ids that differ as text are different)."""
        value = _text(value)
        if value is None or value == "":
            raise EventError(f"{what} is missing")
        if not isinstance(value, str):
            raise EventError(f"{what} is not text: {_short(value)}")
        if as_uuid:
            try:
                uuid.UUID(value)
            except ValueError as exc:
                raise EventError(f"{what} is not a UUID: {_short(value)}") from exc
        return value

    def _entity_key(self, entity: Mapping[str, Any]) -> Any:
        for name, value in entity.items():
            if snake_case(str(name)) == self.stream.key:
                return value
        return None

    def parse_event(
        self,
        event: Any,
        source_file: str,
        source_line: int | None = None,
        report: Conversion | None = None,
    ) -> dict[str, Any]:
        """Validate one decoded event and return its row (the events schema); EventError."""
        report = report if report is not None else Conversion()
        if not isinstance(event, Mapping):
            raise EventError(f"not a JSON object: a {type(event).__name__}")
        event_id = self._identifier(event.get("Id"), "Id", as_uuid=True)
        event_type = _text(event.get("EventType"))
        actions = self.stream.actions
        if not isinstance(event_type, str) or event_type not in actions:
            raise EventError(f"unknown EventType {_short(event_type)} (known: {sorted(actions)})")
        action = actions[event_type]
        moment = self._event_time(event.get("DateTime"))
        user = self._user(event.get("User"), report)
        entity = self._entity(event, action)
        key = self._identifier(
            self._entity_key(entity),
            f"{self.entity_field}.{self.key_source}",
            as_uuid=self.stream.key_format == "uuid",
        )
        for name in event:
            if name not in self.known and not (name == ENTITY_ID_FIELD and action == "deleted"):
                report.unknown(str(name))
        try:
            state = self.schema.canonical_record(entity, strict=action != "deleted", report=report)
        except ConversionError as exc:
            raise EventError(f"{self.entity_field}.{exc.path}: {exc.reason}") from exc
        row: dict[str, Any] = {
            "event_id": event_id,
            "event_type": event_type,
            "action": action,
            **{column: self._optional_text(event, name) for name, column in _HEADER_TEXT.items()},
            "event_time": moment,
            "user_name": user.get("Name"),
            "user_email": user.get("Email"),
            **state,
        }
        row[self.stream.key] = key
        partition, offset = sink_position(source_file)
        row.update(
            source_file=source_file,
            source_line=source_line,
            kafka_partition=partition,
            kafka_offset=offset,
        )
        return row

    @staticmethod
    def _event_time(seconds: Any) -> Any:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise EventError(f"DateTime is not Unix seconds: {_short(seconds)}")
        usable = (
            seconds != INT_MIN_DATE
            and 0 < seconds <= MAX_SECONDS  # False for NaN; no arithmetic on a huge number
            and (isinstance(seconds, int) or float(seconds).is_integer())
        )
        if not usable:
            raise EventError(f"DateTime is not a usable event time: {_short(seconds)}")
        return to_timestamp(int(seconds), "DateTime")

    @staticmethod
    def _optional_text(event: Mapping[str, Any], name: str) -> str | None:
        value = _text(event.get(name))
        if value is not None and not isinstance(value, str):
            raise EventError(f"{name} is not text: {_short(value)}")
        return value

    @staticmethod
    def _user(user: Any, report: Conversion) -> Mapping[str, Any]:
        if user is not None and not isinstance(user, Mapping):
            raise EventError(f"User is not an object: {_short(user)}")
        user = {k: _text(v) for k, v in (user or {}).items()}
        for name in _USER_FIELDS:
            if user.get(name) is not None and not isinstance(user.get(name), str):
                raise EventError(f"User.{name} is not text: {_short(user.get(name))}")
        for name in user:
            if name not in _USER_FIELDS:
                report.unknown(f"user.{snake_case(str(name))}")
        return user

    def _entity(self, event: Mapping[str, Any], action: str) -> Mapping[str, Any]:
        entity = event.get(self.entity_field)
        if action == "deleted" and (
            entity is None or (isinstance(entity, Mapping) and self._entity_key(entity) is None)
        ):
            fallback = event.get(ENTITY_ID_FIELD)
            if fallback is not None:
                return {**(entity or {}), self.key_source: fallback}
        if not isinstance(entity, Mapping):
            what = "missing" if entity is None else "not an object"
            raise EventError(f"{self.entity_field} is {what}")
        return entity

    # ------------------------------------------------------------------ one file

    def parse_file(
        self, name: str, payload: bytes, report: Conversion | None = None
    ) -> tuple[list[dict[str, Any]], list[Rejection]]:
        """One file -> (event rows, rejections): Parquet, one JSON object, or JSON lines."""
        report = report if report is not None else Conversion()
        try:
            if payload[:4] == PARQUET_MAGIC:
                return self._parquet_file(name, payload, report)
            return self._json_file(name, payload, report)
        except Exception as exc:  # a per-file failure must never fail the day
            content = payload[:MAX_CONTENT_CHARS].decode("utf-8", "replace")
            reason = f"cannot be read: {type(exc).__name__}: {exc}"
            return [], [Rejection(name, None, reason, None, content)]

    def _parquet_file(
        self, name: str, payload: bytes, report: Conversion
    ) -> tuple[list[dict[str, Any]], list[Rejection]]:
        try:
            table = pq.read_table(pa.BufferReader(payload))
        except (pa.ArrowException, OSError, ValueError) as exc:
            content = f"<{len(payload)} bytes>"
            return [], [Rejection(name, None, f"not a readable Parquet file: {exc}", None, content)]
        records = shortest_floats(table).to_pylist()
        numbered = len(records) > 1
        documents = [
            (i if numbered else None, _json_text(record), record)
            for i, record in enumerate(records, 1)
        ]
        if not documents:
            return [], [Rejection(name, None, "a Parquet file with no rows", None, "")]
        return self._parse_documents(name, documents, report)

    def _json_file(
        self, name: str, payload: bytes, report: Conversion
    ) -> tuple[list[dict[str, Any]], list[Rejection]]:
        try:
            text = payload.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            content = payload[:MAX_CONTENT_CHARS].decode("utf-8", "replace")
            return [], [Rejection(name, None, f"not UTF-8 text: {exc}", None, content)]
        if not text.strip():
            return [], [Rejection(name, None, "empty file", None, text)]
        try:
            documents: list[tuple[int | None, str, Any]] = [(None, text, _loads(text))]
        except EventError as whole_error:
            lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
            if len(lines) < 2 or not all(line.lstrip().startswith("{") for _, line in lines):
                return [], [Rejection(name, None, str(whole_error), None, text)]
            documents = []
            rejections = []
            for number, line in lines:
                try:
                    documents.append((number, line, _loads(line)))
                except EventError as exc:
                    rejections.append(Rejection(name, number, str(exc), None, line))
            rows, more = self._parse_documents(name, documents, report)
            return rows, rejections + more
        return self._parse_documents(name, documents, report)

    def _parse_documents(
        self, name: str, documents: list[tuple[int | None, str, Any]], report: Conversion
    ) -> tuple[list[dict[str, Any]], list[Rejection]]:
        rows, rejections = [], []
        for number, text, decoded in documents:
            if isinstance(decoded, list):
                reason = "a JSON array: expected one object per event"
                rejections.append(Rejection(name, number, reason, None, text))
                continue
            try:
                rows.append(self.parse_event(decoded, name, number, report))
            except EventError as exc:
                rejections.append(Rejection(name, number, str(exc), _event_id_of(decoded), text))
            except Exception as exc:  # every per-event failure is quarantined with its reason
                reason = f"cannot be used: {type(exc).__name__}: {exc}"
                rejections.append(Rejection(name, number, reason, _event_id_of(decoded), text))
        return rows, rejections

    # ------------------------------------------------------------------ a day

    def compact(self, files: Iterable[tuple[str, bytes]]) -> Compaction:
        """Every file of a day -> one ordered events table and one quarantine table.

        A redelivered event (same event ``Id`` in another file, Kafka's at-least-once
        delivery) is kept once, at its first position, and counted.
        """
        report = Conversion()
        rows: list[dict[str, Any]] = []
        rejections: list[Rejection] = []
        count = 0
        for name, payload in files:
            count += 1
            good, bad = self.parse_file(name, payload, report)
            rows.extend(good)
            rejections.extend(bad)
        events = order_events(pa.Table.from_pylist(rows, schema=self.event_schema))
        events, duplicates = _drop_redelivered(events)
        ordered = sorted(rejections, key=lambda r: (r.source_file, r.source_line or 0))
        quarantine = pa.Table.from_pylist([r.row() for r in ordered], schema=QUARANTINE_SCHEMA)
        return Compaction(events, quarantine, count, duplicates, dict(report.unmapped))


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventError(f"not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise EventError("not valid JSON: nested too deeply to read") from exc


def _json_text(record: Any) -> str:
    return json.dumps(record, default=str, ensure_ascii=False)


def _event_id_of(decoded: Any) -> str | None:
    if isinstance(decoded, Mapping):
        value = _text(decoded.get("Id"))
        if isinstance(value, str):
            return value
    return None


def _floats_as(data_type: pa.DataType, target: pa.DataType) -> pa.DataType:
    """``data_type`` with every float32 replaced by ``target`` (nested types too)."""
    if pa.types.is_float32(data_type):
        return target
    if pa.types.is_struct(data_type):
        return pa.struct(
            [pa.field(f.name, _floats_as(f.type, target), f.nullable) for f in data_type]
        )
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        item = data_type.value_field
        field = pa.field(item.name, _floats_as(item.type, target), item.nullable)
        return pa.list_(field) if pa.types.is_list(data_type) else pa.large_list(field)
    return data_type


def shortest_floats(table: pa.Table) -> pa.Table:
    """Avro ``float`` columns (32-bit) as the shortest decimals that give the same value, in
    64-bit: Arrow's float-to-text cast writes exactly those digits."""
    columns = []
    for column in table.columns:
        as_text = _floats_as(column.type, pa.string())
        if as_text != column.type:
            column = column.cast(as_text).cast(_floats_as(column.type, pa.float64()))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def order_events(events: pa.Table) -> pa.Table:
    """Event-time order; ties by Kafka partition and offset, then file and line."""
    if events.num_rows < 2:
        return events
    return events.take(pc.sort_indices(events, sort_keys=[(c, o) for c, o, _ in ORDER]))


def _drop_redelivered(events: pa.Table) -> tuple[pa.Table, int]:
    seen: set[str] = set()
    keep = []
    for i, event_id in enumerate(events["event_id"].to_pylist()):
        if event_id in seen:
            continue
        seen.add(event_id)
        keep.append(i)
    dropped = events.num_rows - len(keep)
    if dropped:
        events = events.take(pa.array(keep, pa.int64()))
    return events, dropped
