"""Erasure of an event-streamed entity (Tenure): its raw event files (Parquet and JSON, as the
sink writes them) removed, its rows removed from the initial state, events, quarantine,
snapshots and deletions; a person inside a household removed from every stage while the
tenure stays. Afterwards no snapshot is stale and every proof passes."""

from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.erasure import AuditLog, KeySet, Request, erase, find
from lbh_platform.erasure.locate import Locator, drop_erased
from lbh_platform.event_streams import rules, stages
from lbh_platform.event_streams.dynamodb import ScanResult, plain
from lbh_platform.event_streams.housekeeping import event_stream_targets
from lbh_platform.event_streams.inputs import Inputs
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.sink import EventFiles
from lbh_platform.event_streams.spec import stream_named
from lbh_platform.storage.lake import Lake
from lbh_platform_devkit.event_streams.generator import dynamodb_item, generate_stream, write_day

TENURE = stream_named("tenure")
DAYS = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]
SALT = "test-salt-0123456789abcdef"
STAGES = ("initial_state", "events", "events_quarantine", "snapshot", "deletions")


@pytest.fixture()
def lake(tmp_path) -> Lake:
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def pipeline(lake: Lake, json_events: bool):
    stream = generate_stream(TENURE, DAYS, entities=12, seed=5, json_events=json_events)
    items = [plain(dynamodb_item(TENURE, r)) for r in stream.initial.values()]
    scan = lambda: ScanResult("TenureInformation", items, 1)  # noqa: E731
    stages.extract_initial_state(lake, TENURE, DAYS[0], scan, imported_at=datetime.now(UTC))
    for day in DAYS:
        write_day(lake, stream.day(day), TENURE)
    for day in DAYS:
        stages.compact_events(lake, TENURE, day)
        stages.build_snapshot(lake, TENURE, day)
    return stream


def updated_entity(stream) -> str:
    """An entity of the initial state, updated by an event and alive at the end."""
    alive = set(stream.day(DAYS[-1]).state)
    for day in DAYS:
        for event in stream.day(day).files:
            known = event.entity_id in alive and event.entity_id in stream.initial
            if event.valid and event.action == "updated" and known:
                return event.entity_id
    raise AssertionError("the generated stream has no such entity")


def raw_texts(lake: Lake) -> str:
    """Every raw event file's content, decoded (Parquet pages are compressed)."""
    files = EventFiles(lake, TENURE.topic)
    texts = []
    for day in files.days():
        for f in files.files(day):
            payload = files.read(f)
            try:
                texts.append(str(pq.read_table(pa.BufferReader(payload)).to_pylist()))
            except pa.ArrowException:  # JSON, or a malformed file
                texts.append(payload.decode("utf-8", "replace"))
    return "\n".join(texts)


def stage_texts(lake: Lake) -> str:
    out = []
    for stage in STAGES:
        table = stage_table(lake, TENURE, stage)
        out += [str(table.read(v).to_pylist()) for v in table.partitions()]
    return "\n".join(out)


def assert_every_proof_passes(lake: Lake) -> None:
    assert Inputs(lake, TENURE).stale_snapshots() == {}
    for day in DAYS:
        outcome = rules.inputs_outcome(lake, TENURE, yyyymmdd(day))
        assert outcome.passed, outcome.description


@pytest.mark.parametrize("json_events", [False, True], ids=["parquet", "json"])
def test_an_entity_is_erased_from_raw_files_and_every_stage(
    lake, tmp_path, json_events, monkeypatch
):
    # Once an erasure is recorded, every run that ingests the table needs the salt.
    monkeypatch.setenv("LBH_ERASURE_SALT", SALT)
    stream = pipeline(lake, json_events)
    entity = updated_entity(stream)
    assert entity in raw_texts(lake) and entity in stage_texts(lake)
    targets = event_stream_targets(lake, "tenure")
    keys = KeySet([entity])
    audit = AuditLog.of(lake)
    report = erase(
        Request("event_streams", "tenure", "analyst"), targets, keys, audit=audit, salt=SALT
    )
    assert not report.residual
    assert sum(c.files_removed for c in report.changes) >= 1
    assert entity not in raw_texts(lake)
    assert entity not in stage_texts(lake)
    assert_every_proof_passes(lake)
    audit_text = "".join(p.read_text() for p in (tmp_path / "refined").rglob("lbh-audit/*/*.json"))
    assert entity not in audit_text
    # Compacting a day again and rebuilding the last snapshot reads the erased files: the
    # entity does not come back.
    stages.compact_events(lake, TENURE, DAYS[1])
    stages.build_snapshot(lake, TENURE, DAYS[-1])
    assert entity not in stage_texts(lake)
    again = erase(
        Request("event_streams", "tenure", "analyst"), targets, keys, audit=audit, salt=SALT
    )
    assert again.changes == [] and again.held == []


def test_a_person_inside_households_is_erased_and_the_tenures_stay(lake):
    stream = pipeline(lake, json_events=False)
    entity = updated_entity(stream)
    last = yyyymmdd(DAYS[-1])
    snapshot = stage_table(lake, TENURE, "snapshot")
    tenure = next(r for r in snapshot.read(last).to_pylist() if r["id"] == entity)
    members = [m for m in tenure["household_members"] or [] if m["id"]]
    if not members:
        pytest.skip("the chosen tenure has no household member")  # pragma: no cover
    person = members[0]["id"]
    targets = event_stream_targets(lake, "tenure", "household_members[].id")
    report = erase(
        Request("event_streams", "tenure", "a"), targets, KeySet([person]), audit=None, salt=None
    )
    assert not report.residual
    assert sum(c.elements_removed for c in report.changes) >= 1
    assert sum(c.files_removed for c in report.changes) == 0  # events kept, rewritten
    assert person not in raw_texts(lake) and person not in stage_texts(lake)
    after = next(r for r in snapshot.read(last).to_pylist() if r["id"] == entity)
    assert [m["id"] for m in after["household_members"]] == [
        m["id"] for m in tenure["household_members"] if m["id"] != person
    ]
    assert {k: v for k, v in after.items() if k != "household_members"} == {
        k: v for k, v in tenure.items() if k != "household_members"
    }
    assert_every_proof_passes(lake)


def test_compaction_can_drop_the_events_of_an_erased_entity(lake):
    """What the events stage applies at ingest: the erased keys' events are dropped unless
    the source changed the entity after the erasure."""
    from lbh_platform.erasure.keys import ErasedKeys, key_hash

    events = pa.table(
        {
            "id": ["a", "b", "a"],
            "event_time": [
                datetime(2024, 3, 1, tzinfo=UTC),
                datetime(2024, 3, 1, tzinfo=UTC),
                datetime(2024, 3, 9, tzinfo=UTC),
            ],
        }
    )
    erased = ErasedKeys(SALT, {key_hash(SALT, "a"): datetime(2024, 3, 5, tzinfo=UTC)})
    kept, removed = drop_erased(events, Locator.of("id"), erased, changed_at="event_time")
    assert removed.rows == 1
    assert kept.to_pylist() == [events.to_pylist()[1], events.to_pylist()[2]]
    assert repr(erased) == "ErasedKeys(1 keys)"  # never a key, even in its repr


def test_the_history_and_its_snapshot_changes_are_erased_and_followed(lake, monkeypatch):
    """The entity leaves the history's segments and the snapshot changes it is kept from;
    the history's next run recomputes the changes of the re-written snapshots and answers
    every day as its snapshot, without the entity."""
    from lbh_platform.event_streams.history import history_of
    from lbh_platform.history import from_snapshots, maintain

    monkeypatch.setenv("LBH_ERASURE_SALT", SALT)
    stream = pipeline(lake, json_events=False)
    history = history_of(lake, TENURE)
    for day in DAYS:
        from_snapshots.update(history, yyyymmdd(day))
    entity = updated_entity(stream)
    targets = event_stream_targets(lake, "tenure")
    keys = KeySet([entity])
    held = {h.stage for found in find(targets, keys) for h in found}
    assert {"history", "history changes"} <= held
    audit = AuditLog.of(lake)
    erase(Request("event_streams", "tenure", "dpo"), targets, keys, audit=audit, salt=SALT)
    assert not [h for found in find(targets, keys) for h in found]
    last = yyyymmdd(DAYS[-1])
    assert from_snapshots.behind(history, last) is not None
    from_snapshots.update(history, last)
    assert from_snapshots.behind(history, last) is None
    snapshots = stage_table(lake, TENURE, "snapshot")
    for day in DAYS:
        got = maintain.as_of(history.history, yyyymmdd(day))
        want = snapshots.read(yyyymmdd(day))
        assert sorted(got["id"].to_pylist()) == sorted(want["id"].to_pylist())
        assert entity not in got["id"].to_pylist()
