"""Tenure events: parsing, quarantine of malformed events, ordering; applying them to state:
event-time order, idempotence, deletion and tombstones, late events, unknown entities."""

import copy
import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from lbh_platform.common import event_state
from lbh_platform.event_streams.events import EventReader, sink_position
from lbh_platform.event_streams.spec import stream_named
from lbh_platform_devkit.event_streams.generator import World
from lbh_platform_devkit.event_streams.generator import event_payload as render_event
from lbh_platform_devkit.event_streams.generator import sink_file_name as sink_name

T0 = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
TENURE = stream_named("tenure")
EVENT_SCHEMA = TENURE.event_schema
READER = EventReader(TENURE)
WORLD = World(TENURE, 11)
parse_event = READER.parse_event
compact = READER.compact
canonical_table = TENURE.schema.canonical_table


def as_state(table: pa.Table, what: str) -> pa.Table:
    return TENURE.model.as_state(table, what)


def apply_events(state, events, tombstones=()):
    return event_state.apply_events(TENURE.model, state, events, tombstones)


def unknown_entity_events(base_ids, events, tombstones=()):
    return event_state.unknown_entity_events(TENURE.model, base_ids, events, tombstones)


def sink_file_name(offset: int, partition: int = 0) -> str:
    return sink_name(TENURE, offset, partition, json_file=True)


def tenure(**changes) -> dict:
    record = WORLD.entity(date(2010, 1, 1))
    record.update(changes)
    return record


def payload(action: str, record: dict, moment: datetime, event_id: str | None = None) -> dict:
    return render_event(TENURE, event_id or WORLD.uuid(), action, moment, record, WORLD.uuid())


def file(offset: int, body: dict | str | bytes) -> tuple[str, bytes]:
    if isinstance(body, dict):
        body = json.dumps(body, indent=2)
    return sink_file_name(offset), body.encode() if isinstance(body, str) else body


def events_table(*items: tuple[int, dict]) -> pa.Table:
    """Rows as the events stage makes them, from (offset, payload) pairs."""
    rows = [parse_event(body, sink_file_name(offset)) for offset, body in items]
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def state_of(result) -> dict:
    return {r["id"]: r for r in result.state.to_pylist()}


# --------------------------------------------------------------------------- events


def test_sample_shaped_event_parses_into_canonical_columns():
    record = tenure(succession_date=None)
    body = payload("updated", record, T0)
    row = parse_event(body, "tenure_api+0+0000000042.json")
    assert row["action"] == "updated" and row["event_type"] == "TenureUpdatedEvent"
    assert row["event_time"] == T0 and row["user_name"] == "Housing Officer"
    assert row["kafka_partition"] == 0 and row["kafka_offset"] == 42
    assert body["Tenure"]["SuccessionDate"] == -2147483648  # the sample's null sentinel
    assert {k: row[k] for k in record} == record


def test_compaction_orders_by_event_time_then_kafka_offset():
    record = tenure()
    later = payload("updated", record, T0 + timedelta(hours=1))
    first = payload("updated", record, T0)
    second = payload("updated", record, T0)  # same second: the offset decides
    result = compact([file(5, later), file(7, second), file(3, first)])
    assert result.events["event_id"].to_pylist() == [first["Id"], second["Id"], later["Id"]]
    assert result.quarantine.num_rows == 0 and result.files == 3
    assert sink_position("tenure_api+2+0000000100.json") == (2, 100)
    assert sink_position("something-else.json") == (None, None)


def test_malformed_events_are_quarantined_without_failing_the_good_ones():
    good = payload("created", tenure(), T0)
    no_id = payload("updated", tenure(), T0)
    del no_id["Tenure"]["Id"]
    unknown_type = dict(payload("updated", tenure(), T0), EventType="TenureArchivedEvent")
    text_time = dict(payload("updated", tenure(), T0), DateTime="2024-03-05T09:00:00Z")
    bad_rent = payload("updated", tenure(), T0)
    bad_rent["Tenure"]["Charges"]["Rent"] = "a lot"
    line_good = payload("updated", tenure(), T0 + timedelta(minutes=5))
    json_lines = json.dumps(line_good) + "\n" + '{"Id": "broken\n'
    files = [
        file(0, good),
        file(1, json.dumps(good)[:50]),
        file(2, no_id),
        file(3, unknown_type),
        file(4, text_time),
        file(5, bad_rent),
        file(6, "[]"),
        file(7, ""),
        file(8, b"\xff\xfe\x00garbage"),
        file(9, json_lines),
    ]
    result = compact(files)
    assert result.events["event_id"].to_pylist() == [good["Id"], line_good["Id"]]
    rejected = result.quarantine.to_pylist()
    reasons = {r["source_file"]: r["reason"] for r in rejected}
    assert reasons[sink_file_name(1)].startswith("not valid JSON")
    assert reasons[sink_file_name(2)] == "Tenure.Id is missing"
    assert reasons[sink_file_name(3)].startswith("unknown EventType 'TenureArchivedEvent'")
    assert reasons[sink_file_name(4)].startswith("DateTime is not Unix seconds")
    assert reasons[sink_file_name(5)].startswith("Tenure.charges.rent: expected a number")
    assert reasons[sink_file_name(6)].startswith("a JSON array")
    assert reasons[sink_file_name(7)] == "empty file"
    assert reasons[sink_file_name(8)].startswith("not UTF-8")
    assert reasons[sink_file_name(9)].startswith("not valid JSON")
    line = result.quarantine.filter(
        pa.compute.equal(result.quarantine["source_file"], sink_file_name(9))
    )
    assert line["source_line"].to_pylist() == [2]
    ids = {r["source_file"]: r["event_id"] for r in rejected}
    assert ids[sink_file_name(3)] == unknown_type["Id"]


def test_redelivered_event_is_kept_once():
    body = payload("created", tenure(), T0)
    result = compact([file(0, body), file(1, body)])
    assert result.events.num_rows == 1 and result.duplicates_dropped == 1
    assert result.events["source_file"].to_pylist() == [sink_file_name(0)]


# --------------------------------------------------------------------------- apply


def test_events_apply_in_event_time_order_whatever_their_position():
    record = tenure()
    base = as_state(canonical_table([record]), "base")
    newest = copy.deepcopy(record)
    newest["charges"]["rent"] = 200.0
    older = copy.deepcopy(record)
    older["charges"]["rent"] = 150.0
    events = events_table(
        (1, payload("updated", newest, T0 + timedelta(hours=2))),
        (0, payload("updated", older, T0)),
    )
    result = apply_events(base, events)
    assert state_of(result)[record["id"]]["charges"]["rent"] == 200.0
    assert result.counts["updated"] == 2


def test_deletion_removes_and_records_a_tombstone():
    keep, gone = tenure(), tenure()
    base = as_state(canonical_table([keep, gone]), "base")
    deletion = payload("deleted", gone, T0)
    result = apply_events(base, events_table((0, deletion)))
    assert set(state_of(result)) == {keep["id"]}
    assert result.tombstones.to_pylist() == [
        {"id": gone["id"], "deleted_at": T0, "event_id": deletion["Id"], "entity_known": True}
    ]
    assert result.counts["deleted"] == 1


def test_applying_the_same_events_twice_changes_nothing():
    a, b, c = tenure(), tenure(), tenure()
    base = as_state(canonical_table([a, b]), "base")
    a2 = dict(a, payment_reference="111")
    b2 = dict(b, is_sublet=True)
    events = events_table(
        (0, payload("updated", a2, T0)),
        (1, payload("created", c, T0 + timedelta(minutes=1))),
        (2, payload("deleted", b, T0 + timedelta(minutes=2))),
        (3, payload("created", b2, T0 + timedelta(minutes=3))),  # re-created after deletion
        (4, payload("deleted", c, T0 + timedelta(minutes=4))),
    )
    once = apply_events(base, events)
    twice = apply_events(once.state, events, [once.tombstones])
    assert twice.state.equals(once.state)
    assert twice.tombstones.num_rows == 0
    assert twice.unknown_entity_events == []
    assert set(state_of(once)) == {a["id"], b["id"]}
    assert state_of(once)[b["id"]]["is_sublet"] is True
    assert once.tombstones.num_rows == 2


def test_late_event_does_not_resurrect_a_deleted_tenure():
    record = tenure()
    base = as_state(canonical_table([]), "base")
    earlier_tombstones = pa.table(
        {
            "id": [record["id"]],
            "deleted_at": pa.array([T0 + timedelta(hours=1)], pa.timestamp("us", tz="UTC")),
            "event_id": ["e-deleted"],
        }
    )
    late = events_table((9, payload("updated", record, T0)))
    result = apply_events(base, late, [earlier_tombstones])
    assert result.state.num_rows == 0
    assert result.counts["stale"] == 1 and result.unknown_entity_events == []


def test_events_for_unknown_entities_are_applied_and_reported():
    known, stranger, ghost = tenure(), tenure(), tenure()
    base = as_state(canonical_table([known]), "base")
    update = payload("updated", stranger, T0)
    delete = payload("deleted", ghost, T0 + timedelta(minutes=1))
    events = events_table((0, update), (1, delete), (2, payload("updated", known, T0)))
    result = apply_events(base, events)
    assert set(state_of(result)) == {known["id"], stranger["id"]}
    assert result.counts["unknown_entity_updated"] == 1
    assert result.counts["unknown_entity_deleted"] == 1
    assert [e["event_id"] for e in result.unknown_entity_events] == [update["Id"], delete["Id"]]
    assert result.tombstones["entity_known"].to_pylist() == [False]
    assert unknown_entity_events([known["id"]], events) == [update["Id"], delete["Id"]]


def test_extract_rows_are_replaced_by_any_event():
    record = tenure()
    base = as_state(canonical_table([record]), "base")
    assert base["last_event_id"].null_count == 1
    updated = dict(record, is_active=False)
    result = apply_events(base, events_table((0, payload("updated", updated, T0))))
    row = state_of(result)[record["id"]]
    assert row["is_active"] is False and row["last_event_time"] == T0
