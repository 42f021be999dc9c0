"""The tenure pipeline in Dagster against the DynamoDB stand-in over HTTP: an initial extract,
four days of generated event files found by the sensor, snapshots started by automation and
compared with the generator's ground truth; then the consistency check catching planted drift
and a re-sync repairing it."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.defs.event_streams.definitions import build_event_stream_definitions
from lbh_platform.defs.event_streams.spec import job_names, stage_key
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.sink import EventFiles
from lbh_platform.event_streams.spec import stream_named
from lbh_platform.lib.engine import build_engine_resources
from lbh_platform.lib.resources import LakeResource
from lbh_platform_devkit.event_streams.generator import dynamodb_item, generate_stream
from lbh_platform_devkit.event_streams.generator import write_day as write_files
from lbh_platform_devkit.event_streams.stand_in import DynamoDbStandIn

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")
DAYS = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7)]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
TENURE = stream_named("tenure")
TENURE_COLUMNS = TENURE.schema.columns
NAMES = job_names(TENURE)
PIPELINE_JOB, RESYNC_JOB, SENSOR = NAMES["pipeline"], NAMES["resync"], NAMES["file_sensor"]


def asset_key(stage: str) -> dg.AssetKey:
    return dg.AssetKey(list(stage_key(TENURE, stage)))


def tenure_table(lake, stage: str):
    return stage_table(lake, TENURE, stage)


def write_day(lake, truth):
    return write_files(lake, truth, TENURE)


@pytest.fixture()
def world(zones, monkeypatch):
    raw, refined = zones
    stream = generate_stream(TENURE, DAYS, entities=30, seed=5)
    with DynamoDbStandIn() as stand_in:
        stand_in.load(TENURE, stream.initial)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", stand_in.endpoint_url)
        monkeypatch.setenv("TENURE_DYNAMODB_SEGMENTS", "3")
        monkeypatch.setenv("TENURE_DYNAMODB_PAGE_SIZE", "7")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        parts = build_event_stream_definitions(TENURE)
        lake_resource = LakeResource(raw_zone=str(raw), refined_zone=str(refined))
        shared = dg.Definitions(resources={**build_engine_resources(), "lake": lake_resource})
        defs = dg.Definitions.merge(parts, shared)
        with dg.instance_for_test() as instance:
            yield SimpleNamespace(
                stream=stream,
                stand_in=stand_in,
                defs=defs,
                lake_resource=lake_resource,
                lake=lake_resource.lake(),
                instance=instance,
            )


def run(world, job: str, day: date, *stages: str) -> dict[str, dg.AssetCheckEvaluation]:
    """Execute ``job`` (optionally only some stages, with their checks) for one day."""
    selection = [asset_key(s) for s in stages] or None
    result = world.defs.resolve_job_def(job).execute_in_process(
        instance=world.instance,
        partition_key=day.isoformat(),
        asset_selection=selection,
        run_config=QUIET,
        raise_on_error=False,
    )
    assert result.success, (job, day, stages)
    return {
        f"{e.event_specific_data.asset_key.path[1]}.{e.event_specific_data.check_name}": (
            e.event_specific_data
        )
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def evaluate_sensor(world, cursor: str | None) -> dg.SensorResult:
    sensor = world.defs.resolve_sensor_def(SENSOR)
    context = dg.build_sensor_context(
        instance=world.instance, cursor=cursor, resources={"lake": world.lake_resource}
    )
    return sensor(context)


def snapshot_rows(world, day: date) -> dict[str, dict]:
    table = tenure_table(world.lake, "snapshot").read(yyyymmdd(day))
    return {r["id"]: {c: r[c] for c in TENURE_COLUMNS} for r in table.to_pylist()}


def test_multi_day_run_matches_ground_truth_and_catches_drift(world):
    stream = world.stream
    checks = run(world, PIPELINE_JOB, DAYS[0], "initial_state")
    assert checks["initial_state.id_unique"].passed
    assert checks["initial_state.consistent_with_snapshot"].passed  # nothing to compare yet
    extract = tenure_table(world.lake, "initial_state").read(yyyymmdd(DAYS[0]))
    assert extract.num_rows == len(stream.initial)
    assert "version_number" in extract.column_names  # an attribute outside the schema, kept

    cursor = None
    automation_cursor = dg.evaluate_automation_conditions(
        defs=world.defs,
        instance=world.instance,
        evaluation_time=datetime.combine(DAYS[0], time(1), LONDON),
    ).cursor  # the first tick only initialises (nothing is requested)
    for day in DAYS:
        truth = stream.day(day)
        write_day(world.lake, truth)
        sensed = evaluate_sensor(world, cursor)
        assert [r.partition_key for r in sensed.run_requests] == [day.isoformat()], day
        cursor = sensed.cursor
        checks = run(world, "tenure_events", day)
        assert checks["events.every_event_parsed"].passed is (truth.malformed == 0)
        quarantine = tenure_table(world.lake, "events_quarantine").read(yyyymmdd(day))
        assert quarantine.num_rows == truth.malformed

        evaluation = dg.evaluate_automation_conditions(
            defs=world.defs,
            instance=world.instance,
            evaluation_time=datetime.combine(day, time(12), LONDON),
            cursor=automation_cursor,
        )
        automation_cursor = evaluation.cursor
        assert evaluation.get_requested_partitions(asset_key("snapshot")) == {day.isoformat()}

        checks = run(world, PIPELINE_JOB, day, "snapshot", "deletions")
        assert checks["snapshot.id_unique"].passed, day
        assert checks["snapshot.unknown_entity_events_reported"].passed, day
        reported = checks["snapshot.unknown_entity_events_reported"].metadata
        assert reported["unknown_entity_events"].value == len(truth.unknown_entity_event_ids)

        assert snapshot_rows(world, day) == truth.state, day
        materialized = world.instance.get_latest_materialization_event(asset_key("snapshot"))
        metadata = materialized.asset_materialization.metadata
        late = [e for e in truth.files if e.valid and e.moment.date() < day]
        assert metadata["events_stale"].value == len(late), day  # superseded late arrivals
        deleted_today = {e.entity_id for e in truth.files if e.valid and e.action == "deleted"}
        tombstones = tenure_table(world.lake, "deletions").read(yyyymmdd(day))
        assert set(tombstones["id"].to_pylist()) == deleted_today, day
    assert any(stream.day(d).unknown_entity_event_ids for d in DAYS)
    assert any(
        e.moment.date() < e.landing_day for d in DAYS for e in stream.day(d).files if e.valid
    )

    # No new files: the sensor asks for nothing; a late file in an old folder is noticed.
    assert evaluate_sensor(world, cursor).run_requests == []
    late_file = "tenure_api+0+0000009999.snappy.parquet"
    EventFiles(world.lake, TENURE.topic).write(yyyymmdd(DAYS[1]), late_file, b"{}")
    assert [r.partition_key for r in evaluate_sensor(world, cursor).run_requests] == [
        DAYS[1].isoformat()
    ]

    # A fresh extract of a DynamoDB that matches the events: consistent.
    final = stream.day(DAYS[-1]).state
    world.stand_in.load(TENURE, final)
    next_day = DAYS[-1] + timedelta(days=1)
    checks = run(world, PIPELINE_JOB, next_day, "initial_state")
    consistency = checks["initial_state.consistent_with_snapshot"]
    assert consistency.passed, consistency.description
    assert consistency.metadata["compared_snapshot_date"].value == yyyymmdd(DAYS[-1])

    # Plant drift: one changed, one deleted, one added behind the events' back.
    changed_id, deleted_id = sorted(final)[:2]
    changed = dict(final[changed_id], payment_reference="DRIFTED")
    world.stand_in.put_items([dynamodb_item(TENURE, changed)])
    world.stand_in.delete_ids([deleted_id])
    intruder = dynamodb_item(TENURE, next(iter(stream.initial.values())))
    intruder.update(id="00000000-0000-4000-8000-000000000000", versionNumber=Decimal(9))
    world.stand_in.put_items([intruder])
    checks = run(world, PIPELINE_JOB, next_day, "initial_state")
    drift = checks["initial_state.consistent_with_snapshot"]
    assert not drift.passed
    assert drift.severity == dg.AssetCheckSeverity.WARN
    counts = {k: drift.metadata[k].value for k in ("missing", "extra", "changed")}
    assert counts == {"missing": 1, "extra": 1, "changed": 1}
    assert drift.metadata["changed_columns"].value == {"payment_reference": 1}

    # Re-sync: the day's snapshot is rebuilt on the fresh extract.
    run(world, RESYNC_JOB, next_day)
    resynced = snapshot_rows(world, next_day)
    assert set(resynced) == world.stand_in.ids()
    assert resynced[changed_id]["payment_reference"] == "DRIFTED"
