"""Fault injection for event-streamed entities: a missed day, a day compacted again after later
snapshots, and hostile event input. Each case is recorded in the ``faults`` ledger."""

import json
from datetime import UTC, date, datetime

import dagster as dg
import pyarrow as pa
import pytest

from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.defs.event_streams.definitions import build_event_stream_definitions
from lbh_platform.defs.event_streams.spec import RANGE_END, RANGE_START, stage_key
from lbh_platform.event_streams import inputs as record
from lbh_platform.event_streams import rules, stages
from lbh_platform.event_streams.dynamodb import ScanResult, plain
from lbh_platform.event_streams.events import EventReader
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.sink import EventFiles
from lbh_platform.event_streams.spec import stream_named
from lbh_platform.lib.resources import LakeResource
from lbh_platform.storage.lake import Lake
from lbh_platform_devkit.event_streams.generator import (
    World,
    dynamodb_item,
    event_payload,
    generate_stream,
    parquet_event,
    sink_file_name,
    write_day,
)

pytestmark = pytest.mark.faults
TENURE = stream_named("tenure")
DAYS = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7)]
D4, D5, D6, D7 = (yyyymmdd(d) for d in DAYS)
T0 = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)


@pytest.fixture()
def lake(tmp_path) -> Lake:
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def seeded(lake: Lake, seed: int = 12):
    stream = generate_stream(TENURE, DAYS, entities=25, seed=seed, late_per_day=0)
    items = [plain(dynamodb_item(TENURE, r)) for r in stream.initial.values()]
    scan = lambda: ScanResult("TenureInformation", items, 1)  # noqa: E731
    stages.extract_initial_state(lake, TENURE, DAYS[0], scan, imported_at=T0)
    for day in DAYS:
        write_day(lake, stream.day(day), TENURE)
    return stream


def snapshot_state(lake: Lake, value: str) -> dict[str, dict]:
    table = stage_table(lake, TENURE, "snapshot").read(value)
    columns = TENURE.schema.columns
    return {r["id"]: {c: r[c] for c in columns} for r in table.to_pylist()}


def lost(expected: dict[str, dict], got: dict[str, dict]) -> int:
    """Entities missing, left over or different."""
    return len(expected.keys() ^ got.keys()) + sum(
        1 for k in expected.keys() & got.keys() if expected[k] != got[k]
    )


def test_a_missed_day_is_compacted_and_applied_by_the_next_snapshot(lake, faults):
    stream = seeded(lake)
    for day in DAYS[:2]:
        stages.compact_events(lake, TENURE, day)
        stages.build_snapshot(lake, TENURE, day)
    # Day 6's files landed; day 6 is never run. Day 7 is.
    stages.compact_events(lake, TENURE, DAYS[3])
    reports = stages.build_snapshot(lake, TENURE, DAYS[3])

    day6 = stream.day(DAYS[2])
    deleted_on_6 = {e.entity_id for e in day6.files if e.valid and e.action == "deleted"}
    updated_on_6 = {e.entity_id for e in day6.files if e.valid and e.action == "updated"}
    assert deleted_on_6 and updated_on_6  # the scenario of the issue: a deletion, a change
    got = snapshot_state(lake, D7)
    truth = stream.day(DAYS[3]).state
    faults.record(survived=got == truth, lost=lost(truth, got))
    assert got == truth
    assert not deleted_on_6 & got.keys()
    tombstones = stage_table(lake, TENURE, "deletions").read(D7)["id"].to_pylist()
    assert deleted_on_6 <= set(tombstones)
    compacted_first = [r for r in reports if r.stage == "events"]
    assert [r.partition for r in compacted_first] == [D6]
    snapshot_report = reports[-1]
    assert snapshot_report.metadata["events_partitions_applied"] == [D6, D7]
    assert snapshot_report.metadata["events_partitions_compacted_first"] == [D6]
    assert rules.inputs_outcome(lake, TENURE, D7).passed

    # Re-running is a no-op: nothing compacted again, the same rows, tombstones and record.
    table = stage_table(lake, TENURE, "snapshot")
    before = (table.read(D7), stage_table(lake, TENURE, "deletions").read(D7))
    build = table.file_metadata(D7)[record.BUILD_KEY]
    again = stages.build_snapshot(lake, TENURE, DAYS[3])
    assert [r.stage for r in again] == ["deletions", "snapshot"]
    assert table.read(D7).equals(before[0])
    assert stage_table(lake, TENURE, "deletions").read(D7).equals(before[1])
    assert table.file_metadata(D7)[record.BUILD_KEY] == build


def test_a_day_compacted_again_after_later_snapshots_marks_them_stale_until_rebuilt(lake, faults):
    stream = seeded(lake, seed=13)
    for day in DAYS:
        stages.compact_events(lake, TENURE, day)
        stages.build_snapshot(lake, TENURE, day)
    assert all(rules.inputs_outcome(lake, TENURE, yyyymmdd(d)).passed for d in DAYS)

    # A late file lands in day 5's folder: a tenure created on day 5, never touched again.
    world = World(TENURE, 99)
    newcomer = world.entity(DAYS[1])
    moment = datetime(2024, 3, 5, 23, 0, tzinfo=UTC)
    body = event_payload(TENURE, world.uuid(), "created", moment, newcomer, world.uuid())
    EventFiles(lake, TENURE.topic).write(
        D5, sink_file_name(TENURE, 5000, partition=2), parquet_event(TENURE, body)
    )
    late = rules.inputs_outcome(lake, TENURE, D5)
    assert not late.passed and late.metadata["raw_changed"] == [D5]
    assert not rules.raw_files_outcome(lake, TENURE, D5).passed

    reports = stages.compact_events(lake, TENURE, DAYS[1])
    assert reports[1].metadata["snapshots_made_stale"] == [D5, D6, D7]
    stale = record.Inputs(lake, TENURE).stale_snapshots()
    assert stale[D5] == {"recompacted": [D5]}
    assert stale[D6] == {"base_stale": [f"snapshot:{D5}"]}
    assert not rules.inputs_outcome(lake, TENURE, D5).passed

    # The stale-snapshot sensor asks for one run rebuilding 5..7 in date order.
    sensors = build_event_stream_definitions(TENURE, environ={}).sensors
    sensor = next(s for s in sensors if s.name == "tenure_stale_snapshots")
    resource = LakeResource(raw_zone=lake.zones["raw"], refined_zone=lake.zones["refined"])
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"lake": resource})
        [request] = sensor(context).run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2024-03-05", "2024-03-07")

    for day in DAYS[1:]:
        stages.build_snapshot(lake, TENURE, day)
    got = snapshot_state(lake, D7)
    truth = dict(stream.day(DAYS[3]).state, **{newcomer["id"]: newcomer})
    faults.record(survived=got == truth, lost=lost(truth, got))
    assert got == truth
    assert record.Inputs(lake, TENURE).stale_snapshots() == {}
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"lake": resource})
        assert not sensor(context).run_requests


def envelope(event_id: str, event_type: str, seconds, tenure) -> dict:
    return {"Id": event_id, "EventType": event_type, "DateTime": seconds, "Tenure": tenure}


def test_hostile_events_are_quarantined_with_their_file_and_never_fail_the_day(faults):
    world = World(TENURE, 5)
    good = event_payload(TENURE, world.uuid(), "created", T0, world.entity(DAYS[0]), "c")
    target = good["Tenure"]["Id"]
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    files = {
        "good.json": json.dumps(good),
        "huge_float.json": json.dumps(dict(good, Id=world.uuid(), DateTime=1e15)),
        "huge_int.json": json.dumps(dict(good, Id=world.uuid())).replace(
            str(good["DateTime"]), "1" + "0" * 400
        ),
        "deep.json": deep,
        "deep_entity.json": json.dumps(dict(good, Id=world.uuid()))[:-1]
        + ', "Extra": '
        + "[" * 5000
        + "]" * 5000
        + "}",
        "nan_time.json": json.dumps(dict(good, Id=world.uuid(), DateTime=float("nan"))),
        "huge_rent.json": json.dumps(
            dict(good, Id=world.uuid(), Tenure=dict(good["Tenure"], Charges={"Rent": 10**400}))
        ),
        "bad_date.json": json.dumps(
            dict(good, Id=world.uuid(), Tenure=dict(good["Tenure"], StartOfTenureDate=10**30))
        ),
        "garbage.snappy.parquet": "PAR1 not really",
        "id_only_delete.json": json.dumps(
            envelope(world.uuid(), "TenureDeletedEvent", int(T0.timestamp()) + 60, {"Id": target})
        ),
        "entity_id_delete.json": json.dumps(
            {
                **envelope(world.uuid(), "TenureDeletedEvent", int(T0.timestamp()) + 90, None),
                "EntityId": target,
            }
        ),
    }
    result = EventReader(TENURE).compact((name, text.encode()) for name, text in files.items())
    reasons = {r["source_file"]: r["reason"] for r in result.quarantine.to_pylist()}
    expected_bad = set(files) - {"good.json", "id_only_delete.json", "entity_id_delete.json"}
    survived = set(reasons) == expected_bad and result.events.num_rows == 3
    faults.record(len(files) - 1, survived=survived)
    assert set(reasons) == expected_bad, reasons
    assert reasons["huge_float.json"].startswith("DateTime is not a usable event time")
    assert reasons["huge_int.json"].startswith("DateTime is not a usable event time")
    assert reasons["deep.json"] == "not valid JSON: nested too deeply to read"
    assert reasons["deep_entity.json"] == "not valid JSON: nested too deeply to read"
    assert reasons["nan_time.json"].startswith("DateTime is not a usable event time")
    assert reasons["bad_date.json"].startswith("Tenure.start_of_tenure_date: ")
    assert reasons["huge_rent.json"] == "Tenure.charges.rent: a huge number does not fit a double"
    assert reasons["garbage.snappy.parquet"].startswith("not a readable Parquet file")
    assert all(len(r) < 400 for r in reasons.values())  # no 400-digit number in a reason
    actions = dict(
        zip(
            result.events["source_file"].to_pylist(),
            result.events["action"].to_pylist(),
            strict=True,
        )
    )
    assert actions == {
        "good.json": "created",
        "id_only_delete.json": "deleted",
        "entity_id_delete.json": "deleted",
    }

    # The id-only deletion is applied: the tenure goes, a tombstone is recorded.
    from lbh_platform.common.event_state import apply_events

    base = TENURE.model.as_state(pa.table({"id": pa.array([], pa.string())}), "base")
    applied = apply_events(TENURE.model, base, result.events)
    assert applied.state.num_rows == 0
    assert applied.tombstones["id"].to_pylist() == [target, target]
    assert applied.counts["inserted"] == 1 and applied.counts["deleted"] == 2


def test_a_snapshot_cannot_hide_an_uncompacted_day_before_its_base(lake, faults):
    """Raw files landing in a folder before the base after the base was built: the base's own
    proof fails and the chain after it is rebuilt; nothing is silently skipped."""
    seeded(lake, seed=14)
    for day in DAYS:
        stages.compact_events(lake, TENURE, day)
        stages.build_snapshot(lake, TENURE, day)
    world = World(TENURE, 7)
    body = event_payload(
        TENURE,
        world.uuid(),
        "created",
        datetime(2024, 3, 4, 22, tzinfo=UTC),
        world.entity(DAYS[0]),
        world.uuid(),
    )
    EventFiles(lake, TENURE.topic).write(
        D4, sink_file_name(TENURE, 7000), parquet_event(TENURE, body)
    )
    stale = record.Inputs(lake, TENURE).stale_snapshots()
    faults.record(survived=sorted(stale) == [D4, D5, D6, D7])
    assert sorted(stale) == [D4, D5, D6, D7]
    assert stale[D4] == {"raw_changed": [D4]}
    # Rebuilding 4 (on the extract of day 4) compacts the folder first; the chain follows.
    reports = stages.build_snapshot(lake, TENURE, DAYS[0])
    assert reports[0].stage == "events_quarantine" and reports[0].partition == D4
    for day in DAYS[1:]:
        stages.build_snapshot(lake, TENURE, day)
    assert record.Inputs(lake, TENURE).stale_snapshots() == {}
    assert body["Tenure"]["Id"] in snapshot_state(lake, D7)


def test_in_dagster_a_missed_day_is_recorded_and_stale_snapshots_are_rebuilt_in_one_run(
    lake, faults
):
    """The same two faults through Dagster: the snapshot step records the day it compacted
    first as that day's events materialisation; the stale-snapshot sensor's run request
    rebuilds the range, in date order, in one run of the rebuild job."""

    def asset_key(stream, stage):
        return dg.AssetKey(list(stage_key(stream, stage)))

    from lbh_platform.defs.event_streams.definitions import build_event_stream_definitions
    from lbh_platform.lib.engine import build_engine_resources

    stream = seeded(lake, seed=15)
    resource = LakeResource(raw_zone=lake.zones["raw"], refined_zone=lake.zones["refined"])
    shared = dg.Definitions(resources={**build_engine_resources(), "lake": resource})
    defs = dg.Definitions.merge(build_event_stream_definitions(TENURE, environ={}), shared)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with dg.instance_for_test() as instance:

        def run(job: str, **options) -> dg.ExecuteInProcessResult:
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, run_config=quiet, raise_on_error=False, **options
            )
            assert result.success, job
            return result

        for day in (DAYS[0], DAYS[1], DAYS[3]):  # day 6 never run
            run("tenure_daily", partition_key=day.isoformat())
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key(TENURE, "events"), asset_partitions=["2024-03-06"]),
            limit=5,
        ).records
        assert len(records) == 1  # recorded by the day-7 snapshot step that compacted it
        assert snapshot_state(lake, D7) == stream.day(DAYS[3]).state

        # Late files land in day 5's folder; the file sensor's run compacts it again.
        world = World(TENURE, 98)
        newcomer = world.entity(DAYS[1])
        body = event_payload(
            TENURE,
            world.uuid(),
            "created",
            datetime(2024, 3, 5, 23, tzinfo=UTC),
            newcomer,
            world.uuid(),
        )
        EventFiles(lake, TENURE.topic).write(
            D5, sink_file_name(TENURE, 9000), parquet_event(TENURE, body)
        )
        run("tenure_events", partition_key=DAYS[1].isoformat())
        sensors = build_event_stream_definitions(TENURE, environ={}).sensors
        sensor = next(s for s in sensors if s.name == "tenure_stale_snapshots")
        context = dg.build_sensor_context(instance=instance, resources={"lake": resource})
        [request] = sensor(context).run_requests
        assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2024-03-05", "2024-03-07")
        result = run("tenure_rebuild_snapshots", tags=request.tags)
        built = [
            e.partition
            for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
            and e.asset_key == asset_key(TENURE, "snapshot")
        ]
        assert built == ["2024-03-05", "2024-03-06", "2024-03-07"]  # in date order
    got = snapshot_state(lake, D7)
    truth = dict(stream.day(DAYS[3]).state, **{newcomer["id"]: newcomer})
    faults.record(2, survived=got == truth, lost=lost(truth, got))
    assert got == truth
    assert record.Inputs(lake, TENURE).stale_snapshots() == {}
