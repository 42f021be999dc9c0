"""Tenure change events: parse one file, validate, and compact a day into one ordered table.

The Kafka S3 sink writes one file per event (``tenure_api+<partition>+<offset>.json``) holding
the event as JSON with the Avro schema's fields (``reference/tenure-events``): a header (``Id``,
``EventType``, ``SourceDomain``, ``SourceSystem``, ``Version``, ``CorrelationId``, ``DateTime``
in Unix seconds, ``User``) and the entity's new state in ``Tenure`` (PascalCase). A file of JSON
lines (a sink flushing several records) is read line by line.

A malformed event never fails the day: it goes to the quarantine table with its file, line and
reason, and the good events are still compacted. The compacted table is ordered by event time,
then by the sink's partition and offset (the order Kafka received them), so events in the same
second keep their order.
"""

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.tenure.schema import (
    INT_MIN_DATE,
    TENURE_FIELDS,
    TIMESTAMP,
    Conversion,
    ConversionError,
    canonical_record,
    to_timestamp,
)

EVENT_ACTIONS: dict[str, str] = {
    "TenureCreatedEvent": "created",
    "TenureUpdatedEvent": "updated",
    "TenureDeletedEvent": "deleted",
}
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
EVENT_SCHEMA = pa.schema(
    HEADER_FIELDS + [pa.field(f.name, f.arrow_type) for f in TENURE_FIELDS] + SOURCE_FIELDS
)
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
_SINK_NAME = re.compile(r"^(?P<topic>.+)\+(?P<partition>\d+)\+(?P<offset>\d+)(\.[A-Za-z0-9.]+)?$")
_HEADER_TEXT = ("SourceDomain", "SourceSystem", "Version", "CorrelationId")


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
    def reasons(self) -> dict[str, int]:
        """Quarantined events per reason (the reason's first clause, so counts group)."""
        counts: dict[str, int] = {}
        for reason in self.quarantine["reason"].to_pylist():
            head = reason.split(":")[0]
            counts[head] = counts.get(head, 0) + 1
        return counts


def sink_position(name: str) -> tuple[int | None, int | None]:
    """(Kafka partition, offset) from a sink file name ``<topic>+<partition>+<offset>.json``."""
    match = _SINK_NAME.match(name)
    if not match:
        return None, None
    return int(match["partition"]), int(match["offset"])


def _uuid(value: Any, what: str) -> str:
    if value is None or value == "":
        raise EventError(f"{what} is missing")
    if not isinstance(value, str):
        raise EventError(f"{what} is not text: {value!r}")
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise EventError(f"{what} is not a UUID: {value!r}") from exc
    return value


def _optional_text(event: Mapping[str, Any], name: str) -> str | None:
    value = event.get(name)
    if value is not None and not isinstance(value, str):
        raise EventError(f"{name} is not text: {value!r}")
    return value


def parse_event(
    event: Any,
    source_file: str,
    source_line: int | None = None,
    report: Conversion | None = None,
) -> dict[str, Any]:
    """Validate one decoded event and return its row (EVENT_SCHEMA); raise EventError."""
    if not isinstance(event, Mapping):
        raise EventError(f"not a JSON object: a {type(event).__name__}")
    event_id = _uuid(event.get("Id"), "Id")
    event_type = event.get("EventType")
    if event_type not in EVENT_ACTIONS:
        raise EventError(f"unknown EventType {event_type!r} (known: {sorted(EVENT_ACTIONS)})")
    seconds = event.get("DateTime")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise EventError(f"DateTime is not Unix seconds: {seconds!r}")
    if seconds == INT_MIN_DATE or seconds <= 0 or not float(seconds).is_integer():
        raise EventError(f"DateTime is not a usable event time: {seconds!r}")
    user = event.get("User")
    if user is not None and not isinstance(user, Mapping):
        raise EventError(f"User is not an object: {user!r}")
    user = user or {}
    for name in ("Name", "Email"):
        if user.get(name) is not None and not isinstance(user.get(name), str):
            raise EventError(f"User.{name} is not text: {user.get(name)!r}")
    tenure = event.get("Tenure")
    if not isinstance(tenure, Mapping):
        raise EventError("Tenure is missing" if tenure is None else "Tenure is not an object")
    _uuid(tenure.get("Id"), "Tenure.Id")
    try:
        state = canonical_record(tenure, strict=True, report=report)
    except ConversionError as exc:
        raise EventError(f"Tenure.{exc.path}: {exc.reason}") from exc
    row: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "action": EVENT_ACTIONS[event_type],
        **{_header_column(name): _optional_text(event, name) for name in _HEADER_TEXT},
        "event_time": to_timestamp(int(seconds), "DateTime"),
        "user_name": user.get("Name"),
        "user_email": user.get("Email"),
        **state,
    }
    partition, offset = sink_position(source_file)
    row.update(
        source_file=source_file,
        source_line=source_line,
        kafka_partition=partition,
        kafka_offset=offset,
    )
    return row


def _header_column(name: str) -> str:
    return {
        "SourceDomain": "source_domain",
        "SourceSystem": "source_system",
        "Version": "version",
        "CorrelationId": "correlation_id",
    }[name]


def _event_id_of(decoded: Any) -> str | None:
    if isinstance(decoded, Mapping) and isinstance(decoded.get("Id"), str):
        return decoded["Id"]
    return None


def parse_file(
    name: str, payload: bytes, report: Conversion | None = None
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """One file -> (event rows, rejections). One JSON object, or JSON lines."""
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        content = payload[:MAX_CONTENT_CHARS].decode("utf-8", "replace")
        return [], [Rejection(name, None, f"not UTF-8 text: {exc}", None, content)]
    if not text.strip():
        return [], [Rejection(name, None, "empty file", None, text)]
    try:
        documents: list[tuple[int | None, str, Any]] = [(None, text, json.loads(text))]
    except json.JSONDecodeError as whole_error:
        lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2 or not all(line.lstrip().startswith("{") for _, line in lines):
            return [], [Rejection(name, None, f"not valid JSON: {whole_error}", None, text)]
        documents = []
        rejections = []
        for number, line in lines:
            try:
                documents.append((number, line, json.loads(line)))
            except json.JSONDecodeError as exc:
                rejections.append(Rejection(name, number, f"not valid JSON: {exc}", None, line))
        rows, more = _parse_documents(name, documents, report)
        return rows, rejections + more
    return _parse_documents(name, documents, report)


def _parse_documents(
    name: str, documents: list[tuple[int | None, str, Any]], report: Conversion | None
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    rows, rejections = [], []
    for number, text, decoded in documents:
        if isinstance(decoded, list):
            rejections.append(
                Rejection(name, number, "a JSON array: expected one object per event", None, text)
            )
            continue
        try:
            rows.append(parse_event(decoded, name, number, report))
        except EventError as exc:
            rejections.append(Rejection(name, number, str(exc), _event_id_of(decoded), text))
    return rows, rejections


def compact(files: Iterable[tuple[str, bytes]]) -> Compaction:
    """Every file of a day -> one ordered events table and one quarantine table.

    A redelivered event (same event ``Id`` in another file, Kafka's at-least-once delivery) is
    kept once, at its first position, and counted.
    """
    report = Conversion()
    rows: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    count = 0
    for name, payload in files:
        count += 1
        good, bad = parse_file(name, payload, report)
        rows.extend(good)
        rejections.extend(bad)
    events = order_events(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA))
    events, duplicates = _drop_redelivered(events)
    quarantine = pa.Table.from_pylist(
        [r.row() for r in sorted(rejections, key=lambda r: (r.source_file, r.source_line or 0))],
        schema=QUARANTINE_SCHEMA,
    )
    return Compaction(events, quarantine, count, duplicates, dict(report.unmapped))


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
