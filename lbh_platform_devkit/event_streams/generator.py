"""A deterministic world for any configured entity: an initial state, change events per day,
and ground truth, all driven by the entity's Avro-derived fields.

The generator keeps every entity in the canonical form (snake_case, aware datetimes) and
renders it independently into the two shapes the pipeline reads: a DynamoDB item (camelCase,
ISO-8601 date strings as the .NET converter writes them, numbers as Decimal) and an event (the
Avro names, Unix seconds, ``-2147483648`` for a null date as in the reference samples), written
as the sink writes it: one Parquet file per event in the ``import_year=/.../import_date=``
folders (or JSON, when asked). The pipeline's output can then be compared with the canonical
truth, which tests both mappings.

Each day brings creates, updates and deletes at distinct seconds, plus what a real topic
brings: an event landing in the next day's folder (late, and already superseded by a newer edit
that landed on time, so it must be skipped as stale), a redelivered event, an update for an
entity the state never had, and malformed files (which must be quarantined, not applied).
Truth for a day is, per entity, the state of its latest event (by event time) among all valid
events landed so far; a latest event that is a deletion means the entity is gone.
"""

import copy
import json
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.event_streams.parquet_writer import parquet_bytes
from lbh_platform.event_streams.schema import INT_MIN_DATE, Field
from lbh_platform.event_streams.sink import EventFiles
from lbh_platform.event_streams.spec import EventStream
from lbh_platform.storage.lake import Lake

_FIRST = ["Amina", "Tomasz", "Grace", "Mehmet", "Olu", "Siobhan", "Rahul", "Chen", "Maria", "Kofi"]
_LAST = ["Okafor", "Nowak", "Williams", "Yilmaz", "Adeyemi", "Murphy", "Patel", "Li", "Silva"]
_STREETS = ["Mare Street", "Dalston Lane", "Kingsland Road", "Well Street", "Homerton High Street"]
_POSTCODES = ["E8 1HE", "E8 2PB", "E8 4DG", "E9 7HD", "E9 6PU"]
_WORDS = ["Weekly", "Monthly", "Secure", "Introductory", "Housing", "Standard", "Other", "Main"]
MALFORMED = ("truncated", "no_entity_id", "unknown_type", "text_datetime", "bad_value")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def actions_of(stream: EventStream) -> dict[str, str]:
    """action -> the first event type configured for it (what the generator sends)."""
    out: dict[str, str] = {}
    for event_type, action in stream.actions.items():
        out.setdefault(action, event_type)
    return out


@dataclass
class GeneratedEvent:
    """One event file: its canonical effect (``state`` None for a deletion) and payload."""

    offset: int
    landing_day: date
    file_name: str
    payload: bytes
    valid: bool
    event_id: str | None = None
    action: str | None = None
    entity_id: str | None = None
    moment: datetime | None = None
    state: dict[str, Any] | None = None
    redelivery: bool = False
    unknown_entity: bool = False


@dataclass
class DayTruth:
    day: date
    files: list[GeneratedEvent]
    state: dict[str, dict[str, Any]]
    deleted_ids: set[str]
    malformed: int
    redelivered: int
    unknown_entity_event_ids: list[str]


@dataclass
class GeneratedStream:
    """The initial state (what DynamoDB holds before the first day) and each day's truth."""

    stream: EventStream
    initial: dict[str, dict[str, Any]]
    days: list[DayTruth] = field(default_factory=list)

    def day(self, day: date) -> DayTruth:
        for truth in self.days:
            if truth.day == day:
                return truth
        raise KeyError(day)


class World:
    """Random but reproducible entities of one stream, from its fields."""

    def __init__(self, stream: EventStream, seed: int):
        self.stream = stream
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def entity(self, start: date) -> dict[str, Any]:
        record = {f.name: self.value(f, start) for f in self.stream.schema.fields}
        record[self.stream.key] = self.uuid()
        return record

    def value(self, spec: Field, start: date, optional: bool = True) -> Any:
        rng = self.rng
        if spec.kind == "struct":
            return {f.name: self.value(f, start) for f in spec.fields}
        if spec.kind == "list":
            count = rng.randrange(1, 4)
            if spec.item is not None:
                item = Field(spec.name, spec.item, symbols=spec.symbols, nullable=False)
                return [self.value(item, start, optional=False) for _ in range(count)]
            return [{f.name: self.value(f, start) for f in spec.fields} for _ in range(count)]
        if spec.kind == "timestamp":
            if rng.random() < 0.2:
                return None
            return _midnight(start - timedelta(days=rng.randrange(-400, 365 * 60)))
        if optional and spec.nullable and rng.random() < 0.1:
            return None
        if spec.kind == "bool":
            return rng.random() < 0.5
        if spec.kind == "float":
            return round(rng.uniform(-50, 900), 2)  # at most 6 digits: exact as a 32-bit float
        if spec.kind == "int":
            return rng.randrange(0, 10_000)
        return self.text(spec)

    def text(self, spec: Field) -> str:
        rng, name = self.rng, spec.name
        if spec.symbols:
            return rng.choice(spec.symbols)
        if name == "id" or name.endswith("_id"):
            return self.uuid()
        if "email" in name:
            return f"{rng.choice(_FIRST).lower()}.{rng.choice(_LAST).lower()}@hackney.gov.uk"
        if "name" in name:
            return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        if "address" in name:
            street = rng.choice(_STREETS)
            return f"{rng.randrange(1, 240)} {street}, London {rng.choice(_POSTCODES)}"
        if "uprn" in name or "reference" in name or name in ("value", "code"):
            return str(rng.randrange(10**7, 10**11))
        return rng.choice(_WORDS)

    def change(self, record: dict[str, Any], moment: datetime) -> dict[str, Any]:
        """An edit of one field of an entity (returns a new dict)."""
        new = copy.deepcopy(record)
        fields = [f for f in self.stream.schema.fields if f.name != self.stream.key]
        for _ in range(20):
            spec = self.rng.choice(fields)
            if spec.kind == "struct" and new[spec.name] is not None and spec.fields:
                inner = self.rng.choice(spec.fields)
                new[spec.name][inner.name] = self.value(inner, moment.date())
            elif spec.kind == "list" and new[spec.name] and self.rng.random() < 0.5:
                new[spec.name].pop()
            else:
                new[spec.name] = self.value(spec, moment.date())
            if new != record:
                return new
        return new


# --------------------------------------------------------------------------- rendering


def camel(source: str) -> str:
    """An Avro name as the .NET DynamoDB converter names the attribute: ``UPRN`` -> ``uprn``,
    ``HouseholdMembers`` -> ``householdMembers``."""
    match = re.match(r"^[A-Z]+(?=[A-Z][a-z])|^[A-Z]+$|^[A-Z]", source)
    if not match:
        return source
    return match.group(0).lower() + source[match.end() :]


def dotnet_date(value: datetime) -> str:
    """The .NET DynamoDB converter's form: ``yyyy-MM-ddTHH:mm:ss.fffffffZ`` (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def _render(value: Any, spec: Field, key, date_value) -> Any:
    if spec.kind == "timestamp":
        return date_value(value, spec)
    if value is None:
        return None
    if spec.kind == "struct":
        return {key(f): _render(value[f.name], f, key, date_value) for f in spec.fields}
    if spec.kind == "list":
        if spec.item is not None:
            item = Field(spec.name, spec.item)
            return [_render(v, item, key, date_value) for v in value]
        return [
            None
            if item is None
            else {key(f): _render(item[f.name], f, key, date_value) for f in spec.fields}
            for item in value
        ]
    return value


def event_entity(
    stream: EventStream, record: dict[str, Any], null_dates_as_json_null: bool = False
) -> dict[str, Any]:
    """A canonical entity as an event's entity field (Avro names, Unix seconds, int-min
    nulls; ``null`` for a nullable date with ``null_dates_as_json_null``)."""

    def date_value(value: datetime | None, spec: Field) -> Any:
        if value is None:
            return None if null_dates_as_json_null and spec.nullable else INT_MIN_DATE
        return int(value.timestamp())

    return {
        f.source_name: _render(record.get(f.name), f, lambda x: x.source_name, date_value)
        for f in stream.schema.fields
    }


def dynamodb_item(
    stream: EventStream,
    record: dict[str, Any],
    version: int = 1,
    sentinel_dates: bool = False,
) -> dict[str, Any]:
    """A canonical entity as a DynamoDB item for boto3 (camelCase, ISO dates, Decimals).

    Null dates are DynamoDB NULL, or the int-min number with ``sentinel_dates`` (rows written
    from event payloads); ``versionNumber`` is an attribute outside the canonical schema.
    """

    def date_value(value: datetime | None, spec: Field) -> Any:
        if value is None:
            return Decimal(INT_MIN_DATE) if sentinel_dates else None
        return dotnet_date(value)

    def numbers(value: Any) -> Any:
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, dict):
            return {k: numbers(v) for k, v in value.items()}
        if isinstance(value, list):
            return [numbers(v) for v in value]
        return value

    def name(spec: Field) -> str:
        return camel(spec.source_name)

    item = {name(f): _render(record.get(f.name), f, name, date_value) for f in stream.schema.fields}
    item["versionNumber"] = Decimal(version)
    return numbers(item)


def event_payload(
    stream: EventStream,
    event_id: str,
    action: str,
    moment: datetime,
    state: dict[str, Any],
    correlation_id: str,
    null_dates_as_json_null: bool = False,
) -> dict[str, Any]:
    return {
        "Id": event_id,
        "EventType": actions_of(stream)[action],
        "SourceDomain": stream.entity_field,
        "SourceSystem": f"{stream.entity_field}API",
        "Version": "v1",
        "CorrelationId": correlation_id,
        "DateTime": int(moment.timestamp()),
        "User": {"Name": "Housing Officer", "Email": "housing.officer@hackney.gov.uk"},
        stream.entity_field: event_entity(stream, state, null_dates_as_json_null),
    }


def sink_file_name(stream: EventStream, offset: int, partition: int = 0, json_file=False) -> str:
    """The S3 sink's name for one record: ``<topic>+<partition>+<offset>.snappy.parquet``
    (the offset zero-padded to 10 digits, as the sink's default)."""
    suffix = "json" if json_file else "snappy.parquet"
    return f"{stream.topic}+{partition}+{offset:010d}.{suffix}"


def parquet_event(stream: EventStream, payload: dict[str, Any]) -> bytes:
    return parquet_bytes(stream.avro, [payload])


# --------------------------------------------------------------------------- the stream


def generate_stream(
    stream: EventStream,
    days: list[date],
    *,
    entities: int = 40,
    seed: int = 0,
    creates: tuple[int, int] = (2, 3),
    updates: tuple[int, int] = (6, 9),
    deletes: tuple[int, int] = (1, 2),
    malformed_per_day: int = 1,
    redelivered_per_day: int = 1,
    late_per_day: int = 1,
    unknown_entity_updates: int = 1,
    json_events: bool = False,
) -> GeneratedStream:
    """The initial state as of the first day's midnight and ``days`` of events (see module).
    Valid events are Parquet files, as the sink writes them (JSON with ``json_events``)."""
    days = sorted(days)
    world = World(stream, seed)
    rng = world.rng
    key = stream.key
    state: dict[str, dict[str, Any]] = {}
    for _ in range(entities):
        record = world.entity(days[0] - timedelta(days=rng.randrange(30, 365 * 30)))
        state[record[key]] = record
    generated = GeneratedStream(stream, copy.deepcopy(state))

    planned: list[dict[str, Any]] = []
    unknown_from = min(1, len(days) - 1)
    for position, day in enumerate(days):
        actions = (
            ["created"] * rng.randint(*creates)
            + ["updated"] * rng.randint(*updates)
            + ["deleted"] * rng.randint(*deletes)
        )
        rng.shuffle(actions)
        base = _midnight(day)
        seconds = sorted(rng.sample(range(60, 23 * 3600 + 50 * 60), len(actions)))
        late = late_per_day if position + 1 < len(days) else 0
        late_seconds = sorted(rng.sample(range(23 * 3600 + 51 * 60, 24 * 3600 - 31), late))
        moments = [(base + timedelta(seconds=s), day) for s in seconds] + [
            (base + timedelta(seconds=s), days[position + 1]) for s in late_seconds
        ]
        actions += ["updated"] * len(late_seconds)
        for (moment, landing), action in zip(moments, actions, strict=True):
            if action != "created" and not state:
                action = "created"
            if action == "created":
                record = world.entity(moment.date())
                state[record[key]] = record
                planned.append(_plan(world, action, record[key], moment, landing, record))
            elif action == "updated":
                target = rng.choice(sorted(state))
                state[target] = world.change(state[target], moment)
                planned.append(_plan(world, action, target, moment, landing, state[target]))
                if landing != day:
                    # A newer edit lands on time, so the late event arrives already superseded.
                    newer = moment + timedelta(seconds=30)
                    state[target] = world.change(state[target], newer)
                    planned.append(_plan(world, action, target, newer, day, state[target]))
            else:
                target = rng.choice(sorted(state))
                last = state.pop(target)
                planned.append(_plan(world, action, target, moment, landing, last))
        if unknown_from <= position < unknown_from + unknown_entity_updates:
            moment = base + timedelta(seconds=rng.choice(range(60, 23 * 3600)))
            record = world.entity(moment.date() - timedelta(days=400))
            item = _plan(world, "updated", record[key], moment, day, record)
            item["unknown_entity"] = True
            planned.append(item)

    offset = 0
    landed: list[GeneratedEvent] = []

    def render(payload: dict[str, Any]) -> bytes:
        if json_events:
            return json.dumps(payload, indent=2).encode()
        return parquet_event(stream, payload)

    for number, day in enumerate(days):
        today: list[GeneratedEvent] = []
        arriving = sorted((p for p in planned if p["landing"] == day), key=lambda p: p["moment"])
        late_first = [p for p in arriving if p["moment"].date() < day] + [
            p for p in arriving if p["moment"].date() >= day
        ]
        for p in late_first:
            payload = event_payload(
                stream,
                p["event_id"],
                p["action"],
                p["moment"],
                p["state"],
                p["correlation_id"],
                null_dates_as_json_null=rng.random() < 0.2,
            )
            today.append(
                GeneratedEvent(
                    offset,
                    day,
                    sink_file_name(stream, offset, json_file=json_events),
                    render(payload),
                    True,
                    p["event_id"],
                    p["action"],
                    p["entity_id"],
                    p["moment"],
                    None if p["action"] == "deleted" else p["state"],
                    unknown_entity=p.get("unknown_entity", False),
                )
            )
            offset += 1
        valid_today = [e for e in today if e.valid]
        for _ in range(min(redelivered_per_day, len(valid_today))):
            again = rng.choice(valid_today)
            today.append(
                GeneratedEvent(
                    offset,
                    day,
                    sink_file_name(stream, offset, json_file=json_events),
                    again.payload,
                    True,
                    again.event_id,
                    again.action,
                    again.entity_id,
                    again.moment,
                    again.state,
                    redelivery=True,
                )
            )
            offset += 1
        for n in range(malformed_per_day):
            kind = MALFORMED[(number * malformed_per_day + n) % len(MALFORMED)]
            name, payload = malformed_event(world, kind, _midnight(day) + timedelta(hours=12))
            today.append(GeneratedEvent(offset, day, name(offset), payload, False))
            offset += 1
        landed.extend(today)
        generated.days.append(_truth(generated.initial, landed, day, today))
    return generated


def _plan(
    world: World,
    action: str,
    entity_id: str,
    moment: datetime,
    landing: date,
    state: dict[str, Any],
) -> dict[str, Any]:
    return {
        "event_id": world.uuid(),
        "correlation_id": world.uuid(),
        "action": action,
        "entity_id": entity_id,
        "moment": moment,
        "landing": landing,
        "state": copy.deepcopy(state),
    }


def _first_typed(fields: tuple[Field, ...]) -> list[str] | None:
    """The source path of the first number or boolean field (one a text value cannot fill)."""
    for spec in fields:
        if spec.kind in ("float", "int", "bool"):
            return [spec.source_name]
        if spec.kind == "struct":
            inner = _first_typed(spec.fields)
            if inner:
                return [spec.source_name, *inner]
    return None


def malformed_event(world: World, kind: str, moment: datetime) -> tuple[Any, bytes]:
    """(file name for an offset, payload) of one kind of bad event (see ``MALFORMED``)."""
    stream = world.stream
    record = world.entity(moment.date())
    payload = event_payload(stream, world.uuid(), "updated", moment, record, world.uuid())
    entity = payload[stream.entity_field]

    def parquet_name(offset: int) -> str:
        return sink_file_name(stream, offset)

    def json_name(offset: int) -> str:
        return sink_file_name(stream, offset, json_file=True)

    if kind == "truncated":
        data = parquet_event(stream, payload)
        return parquet_name, data[: len(data) // 2]
    if kind == "no_entity_id":
        key_source = next(f.source_name for f in stream.schema.fields if f.name == stream.key)
        entity[key_source] = None
        return parquet_name, parquet_event(stream, payload)
    if kind == "unknown_type":
        payload["EventType"] = f"{stream.entity_field}ArchivedEvent"
        return parquet_name, parquet_event(stream, payload)
    if kind == "text_datetime":
        payload["DateTime"] = moment.isoformat()
    elif kind == "bad_value":
        path = _first_typed(stream.schema.fields)
        target = entity
        for name in (path or ["Unknown"])[:-1]:
            target = target[name]
        target[(path or ["Unknown"])[-1]] = "a lot"
    return json_name, json.dumps(payload).encode()


def _truth(
    initial: dict[str, dict[str, Any]],
    landed: list[GeneratedEvent],
    day: date,
    today: list[GeneratedEvent],
) -> DayTruth:
    """Per entity, the latest valid event (by time, then offset) among all landed so far."""
    latest: dict[str, GeneratedEvent] = {}
    for event in landed:
        if not event.valid or event.redelivery:
            continue
        known = latest.get(event.entity_id)
        if known is None or (event.moment, event.offset) > (known.moment, known.offset):
            latest[event.entity_id] = event
    state = copy.deepcopy(initial)
    deleted: set[str] = set()
    for entity_id, event in latest.items():
        if event.action == "deleted":
            state.pop(entity_id, None)
            deleted.add(entity_id)
        else:
            state[entity_id] = copy.deepcopy(event.state)
    return DayTruth(
        day,
        today,
        state,
        deleted,
        malformed=sum(1 for e in today if not e.valid),
        redelivered=sum(1 for e in today if e.redelivery),
        unknown_entity_event_ids=[e.event_id for e in today if e.unknown_entity],
    )


def write_day(lake: Lake, truth: DayTruth, stream: EventStream, *, flat: bool = False) -> list[str]:
    """Write the day's event files where the sink would (or in the flat layout)."""
    files = EventFiles(lake, stream.topic)
    value = yyyymmdd(truth.day)
    return [files.write(value, e.file_name, e.payload, flat=flat) for e in truth.files]
