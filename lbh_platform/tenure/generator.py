"""A deterministic tenure world: an initial state, change events per day, and ground truth.

The generator keeps every tenure in the canonical form (snake_case, aware datetimes) and
renders it independently into the two shapes the pipeline reads: a DynamoDB item (camelCase,
ISO-8601 date strings as the .NET converter writes them, numbers as Decimal) and an event
(PascalCase, Unix seconds, ``-2147483648`` for a null date as in the reference sample). The
pipeline's output can then be compared with the canonical truth, which tests both mappings.

Each day brings creates, updates and deletes at distinct seconds, plus what a real topic
brings: an event landing in the next day's folder (late, and already superseded by a newer edit
that landed on time, so it must be skipped as stale), a redelivered event, an update for a
tenure the state never had, and malformed files (which must be quarantined, not applied).
Truth for a day is, per tenure, the state of its latest event (by event time) among all valid
events landed so far; a latest event that is a deletion means the tenure is gone.
"""

import copy
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.storage.lake import Lake
from lbh_platform.tenure.locations import TOPIC, EventFiles
from lbh_platform.tenure.schema import INT_MIN_DATE, TENURE_FIELDS, Field

EVENT_TYPES = {
    "created": "TenureCreatedEvent",
    "updated": "TenureUpdatedEvent",
    "deleted": "TenureDeletedEvent",
}
_FIRST = ["Amina", "Tomasz", "Grace", "Mehmet", "Olu", "Siobhan", "Rahul", "Chen", "Maria", "Kofi"]
_LAST = ["Okafor", "Nowak", "Williams", "Yilmaz", "Adeyemi", "Murphy", "Patel", "Li", "Silva"]
_STREETS = ["Mare Street", "Dalston Lane", "Kingsland Road", "Well Street", "Homerton High Street"]
_POSTCODES = ["E8 1HE", "E8 2PB", "E8 4DG", "E9 7HD", "E9 6PU"]
_TENURE_TYPES = [("SEC", "Secure"), ("INT", "Introductory"), ("LEA", "Leasehold (RTB)")]
_AGREEMENTS = [("M", "Master Account"), ("R", "Temporary Accommodation")]
_ASSET_TYPES = ["Dwelling", "Dwelling", "Dwelling", "LettableNonDwelling", "Block"]
_MALFORMED = ["truncated", "no_tenure_id", "unknown_type", "text_datetime", "bad_rent"]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


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
    tenure_id: str | None = None
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
class TenureStream:
    """The initial state (what DynamoDB holds before the first day) and each day's truth."""

    initial: dict[str, dict[str, Any]]
    days: list[DayTruth] = field(default_factory=list)

    def day(self, day: date) -> DayTruth:
        for truth in self.days:
            if truth.day == day:
                return truth
        raise KeyError(day)


class _World:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def person(self, responsible: bool, kind: str) -> dict[str, Any]:
        born = date(1930, 1, 1) + timedelta(days=self.rng.randrange(0, 365 * 75))
        return {
            "id": self.uuid(),
            "type": "Person",
            "full_name": f"{self.rng.choice(_FIRST)} {self.rng.choice(_LAST)}",
            "is_responsible": responsible,
            "date_of_birth": _midnight(born),
            "person_tenure_type": kind,
        }

    def tenure(self, start: date) -> dict[str, Any]:
        rng = self.rng
        code, description = rng.choice(_TENURE_TYPES)
        leasehold = code == "LEA"
        members = [self.person(True, "Leaseholder" if leasehold else "Tenant")]
        for _ in range(rng.randrange(0, 4)):
            members.append(self.person(False, "HouseholdMember"))
        if rng.random() < 0.1:
            members.append(
                {
                    "id": self.uuid(),
                    "type": "Organisation",
                    "full_name": "Hackney Housing Association",
                    "is_responsible": False,
                    "date_of_birth": None,
                    "person_tenure_type": "Occupant",
                }
            )
        rent = round(rng.uniform(80, 190), 2)
        service = round(rng.uniform(0, 30), 2)
        agreement = rng.choice(_AGREEMENTS) if rng.random() < 0.3 else None
        return {
            "id": self.uuid(),
            "payment_reference": str(rng.randrange(10**9, 10**10)),
            "household_members": members,
            "tenured_asset": {
                "id": self.uuid(),
                "type": rng.choice(_ASSET_TYPES),
                "full_address": f"{rng.randrange(1, 240)} {rng.choice(_STREETS)}, London "
                f"{rng.choice(_POSTCODES)}",
                "uprn": str(rng.randrange(10**11, 10**12)),
                "property_reference": f"{rng.randrange(0, 10**8):08d}",
            },
            "charges": {
                "rent": rent,
                "current_balance": round(rng.uniform(-200, 900), 2),
                "billing_frequency": "Weekly",
                "service_charge": service,
                "other_charges": round(rng.choice([0.0, 0.1, 2.5]), 2),
                "combined_service_charges": service,
                "combined_rent_charges": rent,
                "tenancy_insurance_charge": 0.0,
                "original_rent_charge": rent,
                "original_service_charge": service,
            },
            "start_of_tenure_date": _midnight(start),
            "end_of_tenure_date": None,
            "tenure_type": {"code": code, "description": description},
            "is_tenanted": rng.choice([True, True, None]),
            "is_active": True,
            "terminated": {"is_terminated": False, "reason_for_termination": None},
            "succession_date": None,
            "agreement_type": None
            if agreement is None
            else {"code": agreement[0], "description": agreement[1]},
            "eviction_date": None,
            "potential_end_date": None,
            "notices": [],
            "legacy_references": [
                {"name": "uh_tag_ref", "value": f"{rng.randrange(10**5, 10**6)}/01"},
                {"name": "u_saff_tenancy", "value": f"{rng.randrange(0, 10**8):08d}"},
            ],
            "is_mutual_exchange": False,
            "inform_housing_benefits_for_changes": rng.random() < 0.2,
            "is_sublet": False,
            "sublet_end_date": None,
        }

    def change(self, tenure: dict[str, Any], moment: datetime) -> dict[str, Any]:
        """A realistic edit of a tenure's state (returns a new dict)."""
        new = copy.deepcopy(tenure)
        rng = self.rng
        kind = rng.choice(["rent", "rent", "member_in", "member_out", "end", "notice", "sublet"])
        today = _midnight(moment.date())
        if kind == "rent":
            charges = new["charges"]
            charges["rent"] = round(charges["rent"] * rng.uniform(1.01, 1.07), 2)
            charges["combined_rent_charges"] = charges["rent"]
            charges["current_balance"] = round(charges["current_balance"] - charges["rent"], 2)
        elif kind == "member_in":
            new["household_members"].append(self.person(False, "HouseholdMember"))
        elif kind == "member_out" and len(new["household_members"]) > 1:
            new["household_members"].pop()
        elif kind == "end" and new["is_active"]:
            new["is_active"] = False
            new["end_of_tenure_date"] = today
            new["terminated"] = {
                "is_terminated": True,
                "reason_for_termination": rng.choice(["Deceased", "Moved out", "Transfer"]),
            }
        elif kind == "notice":
            new["notices"].append(
                {
                    "type": rng.choice(["NOSP", "NTQ", None]),
                    "served_date": today,
                    "expiry_date": today + timedelta(days=28),
                    "effective_date": today + timedelta(days=1),
                    "end_date": None,
                }
            )
        else:
            new["is_sublet"] = not new["is_sublet"]
            new["sublet_end_date"] = today + timedelta(days=365) if new["is_sublet"] else None
        return new


# --------------------------------------------------------------------------- rendering


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def dotnet_date(value: datetime) -> str:
    """The .NET DynamoDB converter's form: ``yyyy-MM-ddTHH:mm:ss.fffffffZ`` (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def _render(value: Any, spec: Field, key, date_value) -> Any:
    if value is None:
        return date_value(None) if spec.kind == "timestamp" else None
    if spec.kind == "struct":
        return {key(f.name): _render(value[f.name], f, key, date_value) for f in spec.fields}
    if spec.kind == "list":
        return [
            {key(f.name): _render(item[f.name], f, key, date_value) for f in spec.fields}
            for item in value
        ]
    if spec.kind == "timestamp":
        return date_value(value)
    return value


def event_tenure(record: dict[str, Any], null_dates_as_json_null: bool = False) -> dict[str, Any]:
    """A canonical tenure as an event's ``Tenure`` (PascalCase, Unix seconds, int-min nulls)."""

    def date_value(value: datetime | None) -> Any:
        if value is None:
            return None if null_dates_as_json_null else INT_MIN_DATE
        return int(value.timestamp())

    return {_pascal(f.name): _render(record[f.name], f, _pascal, date_value) for f in TENURE_FIELDS}


def dynamodb_item(
    record: dict[str, Any], version: int = 1, sentinel_dates: bool = False
) -> dict[str, Any]:
    """A canonical tenure as a DynamoDB item for boto3 (camelCase, ISO dates, Decimals).

    Null dates are DynamoDB NULL, or the int-min number with ``sentinel_dates`` (rows written
    from event payloads); ``versionNumber`` is an attribute outside the canonical schema.
    """

    def date_value(value: datetime | None) -> Any:
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

    item = {_camel(f.name): _render(record[f.name], f, _camel, date_value) for f in TENURE_FIELDS}
    item["versionNumber"] = Decimal(version)
    return numbers(item)


def event_payload(
    event_id: str,
    action: str,
    moment: datetime,
    state: dict[str, Any],
    correlation_id: str,
    null_dates_as_json_null: bool = False,
) -> dict[str, Any]:
    return {
        "Id": event_id,
        "EventType": EVENT_TYPES[action],
        "SourceDomain": "Tenure",
        "SourceSystem": "TenureAPI",
        "Version": "v1",
        "CorrelationId": correlation_id,
        "DateTime": int(moment.timestamp()),
        "User": {"Name": "Housing Officer", "Email": "housing.officer@hackney.gov.uk"},
        "Tenure": event_tenure(state, null_dates_as_json_null),
    }


def sink_file_name(offset: int, partition: int = 0) -> str:
    """The Kafka S3 sink's name for one record: ``<topic>+<partition>+<offset>.json``."""
    return f"{TOPIC}+{partition}+{offset:010d}.json"


# --------------------------------------------------------------------------- the stream


def generate_stream(
    days: list[date],
    *,
    tenures: int = 40,
    seed: int = 0,
    creates: tuple[int, int] = (2, 3),
    updates: tuple[int, int] = (6, 9),
    deletes: tuple[int, int] = (1, 2),
    malformed_per_day: int = 1,
    redelivered_per_day: int = 1,
    late_per_day: int = 1,
    unknown_entity_updates: int = 1,
) -> TenureStream:
    """The initial state as of the first day's midnight and ``days`` of events (see module)."""
    days = sorted(days)
    world = _World(seed)
    rng = world.rng
    first = days[0]
    state: dict[str, dict[str, Any]] = {}
    for _ in range(tenures):
        start = first - timedelta(days=rng.randrange(30, 365 * 30))
        record = world.tenure(start)
        state[record["id"]] = record
    stream = TenureStream(copy.deepcopy(state))

    # Valid events in global time order; late ones land in the next day's folder.
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
                record = world.tenure(moment.date())
                state[record["id"]] = record
                planned.append(_plan(world, action, record["id"], moment, landing, record))
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
            record = world.tenure(moment.date() - timedelta(days=400))
            item = _plan(world, "updated", record["id"], moment, day, record)
            item["unknown_entity"] = True
            planned.append(item)

    offset = 0
    landed: list[GeneratedEvent] = []
    for day in days:
        today: list[GeneratedEvent] = []
        arriving = sorted(
            (p for p in planned if p["landing"] == day), key=lambda p: (p["landing"], p["moment"])
        )
        late_first = [p for p in arriving if p["moment"].date() < day] + [
            p for p in arriving if p["moment"].date() >= day
        ]
        for p in late_first:
            payload = event_payload(
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
                    sink_file_name(offset),
                    json.dumps(payload, indent=2).encode(),
                    True,
                    p["event_id"],
                    p["action"],
                    p["tenure_id"],
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
                    sink_file_name(offset),
                    again.payload,
                    True,
                    again.event_id,
                    again.action,
                    again.tenure_id,
                    again.moment,
                    again.state,
                    redelivery=True,
                )
            )
            offset += 1
        for n in range(malformed_per_day):
            kind = _MALFORMED[(days.index(day) * malformed_per_day + n) % len(_MALFORMED)]
            payload = _malformed(world, kind, _midnight(day) + timedelta(hours=12))
            today.append(GeneratedEvent(offset, day, sink_file_name(offset), payload, False))
            offset += 1
        landed.extend(today)
        stream.days.append(_truth(stream.initial, landed, day, today))
    return stream


def _plan(
    world: _World,
    action: str,
    tenure_id: str,
    moment: datetime,
    landing: date,
    state: dict[str, Any],
) -> dict[str, Any]:
    return {
        "event_id": world.uuid(),
        "correlation_id": world.uuid(),
        "action": action,
        "tenure_id": tenure_id,
        "moment": moment,
        "landing": landing,
        "state": copy.deepcopy(state),
    }


def _malformed(world: _World, kind: str, moment: datetime) -> bytes:
    record = world.tenure(moment.date())
    payload = event_payload(world.uuid(), "updated", moment, record, world.uuid())
    if kind == "truncated":
        text = json.dumps(payload)
        return text[: len(text) // 2].encode()
    if kind == "no_tenure_id":
        del payload["Tenure"]["Id"]
    elif kind == "unknown_type":
        payload["EventType"] = "TenureArchivedEvent"
    elif kind == "text_datetime":
        payload["DateTime"] = moment.isoformat()
    elif kind == "bad_rent":
        payload["Tenure"]["Charges"]["Rent"] = "a lot"
    return json.dumps(payload).encode()


def _truth(
    initial: dict[str, dict[str, Any]],
    landed: list[GeneratedEvent],
    day: date,
    today: list[GeneratedEvent],
) -> DayTruth:
    """Per tenure, the latest valid event (by time, then offset) among all landed so far."""
    latest: dict[str, GeneratedEvent] = {}
    for event in landed:
        if not event.valid or event.redelivery:
            continue
        known = latest.get(event.tenure_id)
        if known is None or (event.moment, event.offset) > (known.moment, known.offset):
            latest[event.tenure_id] = event
    state = copy.deepcopy(initial)
    deleted: set[str] = set()
    for tenure_id, event in latest.items():
        if event.action == "deleted":
            state.pop(tenure_id, None)
            deleted.add(tenure_id)
        else:
            state[tenure_id] = copy.deepcopy(event.state)
    return DayTruth(
        day,
        today,
        state,
        deleted,
        malformed=sum(1 for e in today if not e.valid),
        redelivered=sum(1 for e in today if e.redelivery),
        unknown_entity_event_ids=[e.event_id for e in today if e.unknown_entity],
    )


def write_day(lake: Lake, truth: DayTruth) -> list[str]:
    """Write the day's event files under ``event-streaming/tenure_api/import_date=...``."""
    files = EventFiles(lake)
    value = yyyymmdd(truth.day)
    return [files.write(value, event.file_name, event.payload) for event in truth.files]
