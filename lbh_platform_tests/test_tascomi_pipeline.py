"""The Tascomi pipeline end to end in Dagster against the simulator over HTTP.

Several days with one missed, each snapshot compared with the simulator's ground truth for
that day; a ranged snapshot backfill in one run; a planted duplicate blocking downstream.
"""

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow as pa
import pytest

from lbh_platform.definitions import build_definitions
from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.tables import TascomiTable, load_tables
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")
TABLES_YAML = """tables:
  - {name: applications, completeness_column: application_reference_number}
  - {name: appeals}
  - {name: asset_constraints, recast: false}
"""
FIRST = date(2024, 3, 4)
DAYS = [FIRST, FIRST + timedelta(days=1), FIRST + timedelta(days=3)]  # the 3rd day is missed
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
# Freshness (today's partition, judged at the real time) and volume checks run with the assets
# too; they are tested in test_monitoring.py, not here.
MONITORING = {"freshness_check", "row_count_vs_history"}


@pytest.fixture()
def pipeline(tmp_path, zones, catalogue, monkeypatch):
    config = tmp_path / "tables.yaml"
    config.write_text(TABLES_YAML)
    tables = load_tables(config)
    simulator = TascomiSimulator(tables, catalogue, epoch=FIRST - timedelta(days=20), scale=1)
    url = simulator.start()
    monkeypatch.setenv("TASCOMI_API_URL", url)
    monkeypatch.setenv("TASCOMI_PUBLIC_KEY", "sim-public-key")
    monkeypatch.setenv("TASCOMI_PRIVATE_KEY", "sim-private-key")
    settings = load_settings()
    defs = build_definitions(tables, catalogue, settings)
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    with dg.instance_for_test() as instance:
        yield simulator, defs, lake, instance, tables
    simulator.stop()


def run(defs, instance, selection, partition=None, tags=None):
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(selection))
    return job.execute_in_process(
        instance=instance,
        partition_key=partition,
        tags=tags,
        raise_on_error=False,
        run_config=QUIET,
    )


def keys(tables: list[TascomiTable], stages: tuple[str, ...]) -> list[dg.AssetKey]:
    return [dg.AssetKey(["tascomi", s, f"{t.name}_{s}"]) for t in tables for s in stages]


def api_clock(day: date) -> datetime:
    """The API's clock for the run of ``day``: the schedule's 03:00."""
    return datetime.combine(day, time(3, 0), LONDON)


def truth(simulator, table, day):
    """What the snapshot for ``day`` must hold: every record the API held at the run of
    ``day``, at its newest version (including edits between midnight and the run)."""
    return {str(r["id"]): r for r in simulator.state(table, api_clock(day))}


def as_text(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def assert_snapshot_matches_truth(lake, simulator, table, day):
    snapshot = tascomi_table(lake, "snapshot", table).read(day.strftime("%Y%m%d")).to_pylist()
    expected = truth(simulator, table, day)
    got = {str(row["id"]): row for row in snapshot}
    assert got.keys() == expected.keys(), f"{table} {day}: ids differ"
    for record_id, record in expected.items():
        row = got[record_id]
        assert as_text(row["last_updated"]) == record["last_updated"], (table, record_id)
        for column in ("application_reference_number", "name"):
            if column in record:
                assert row[column] == record[column]


def test_days_with_a_gap_match_ground_truth_and_checks_pass(pipeline):
    simulator, defs, lake, instance, tables = pipeline
    everything = keys(tables, ("api_response", "parsed", "increment", "snapshot"))
    evaluations = []
    for day in DAYS:
        simulator.set_now(api_clock(day))
        result = run(defs, instance, everything, day.isoformat())
        assert result.success, day
        evaluations += [
            e.event_specific_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and e.event_specific_data.check_name not in MONITORING
        ]
        for table in tables:
            assert_snapshot_matches_truth(lake, simulator, table.name, day)
    # 3 tables x 8 checks x 3 days, all passing
    assert len(evaluations) == 3 * 8 * 3
    assert all(ev.passed for ev in evaluations)
    # The day after the gap asked from the previous import date to the day itself.
    raw = tascomi_table(lake, "api_response", "appeals").read(DAYS[2].strftime("%Y%m%d"))
    asked = {u.split("last_updated=")[1][:10] for u in raw["import_api_url_requested"].to_pylist()}
    assert "2024-03-06" in asked and asked <= {"2024-03-05", "2024-03-06", "2024-03-07"}
    # Typed columns are typed; asset_constraints stays strings.
    increment = tascomi_table(lake, "increment", "applications").read("20240305")
    assert increment.schema.field("id").type == pa.int32()
    assert increment.schema.field("last_updated").type == pa.timestamp("us")
    assert (
        tascomi_table(lake, "increment", "asset_constraints")
        .read("20240305")
        .schema.field("id")
        .type
        == pa.string()
    )


def test_snapshot_backfill_range_is_one_ordered_run(pipeline):
    simulator, defs, lake, instance, tables = pipeline
    upstream = keys(tables[:1], ("api_response", "parsed", "increment"))
    days = [FIRST + timedelta(days=n) for n in range(4)]
    for day in days:
        simulator.set_now(api_clock(day))
        assert run(defs, instance, upstream, day.isoformat()).success
    snapshot_key = dg.AssetKey(["tascomi", "snapshot", "applications_snapshot"])
    result = run(
        defs,
        instance,
        [snapshot_key],
        tags={
            "dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat(),
        },
    )
    assert result.success
    materialized = [
        e.event_specific_data.materialization.partition
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert materialized == [d.isoformat() for d in days]
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name not in MONITORING
    ]
    # Two snapshot checks (id unique, inputs applied), each once per day of the range.
    assert sorted(c.partition for c in checks) == sorted(2 * [d.isoformat() for d in days])
    for day in days:
        assert_snapshot_matches_truth(lake, simulator, "applications", day)
    bases = tascomi_table(lake, "snapshot", "applications").partitions()
    assert bases == [d.strftime("%Y%m%d") for d in days]


def test_planted_duplicate_fails_blocking_check_and_stops_downstream(pipeline):
    simulator, defs, lake, instance, tables = pipeline
    table = tables[1]  # appeals
    day = DAYS[0]
    simulator.set_now(api_clock(day))
    assert run(defs, instance, keys([table], ("api_response",)), day.isoformat()).success
    raw_store = tascomi_table(lake, "api_response", table.name)
    raw = raw_store.read(day.strftime("%Y%m%d"))
    first = json.loads(raw[table.name][0].as_py())
    first["last_updated"] = "1999-01-01 00:00:00"  # same id, different content
    planted = raw.slice(0, 1).set_column(0, table.name, pa.array([json.dumps(first)]))
    raw_store.write(day.strftime("%Y%m%d"), pa.concat_tables([raw, planted]))
    result = run(
        defs, instance, keys([table], ("parsed", "increment", "snapshot")), day.isoformat()
    )
    assert not result.success
    failed = [
        e
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    ]
    assert [e.event_specific_data.check_name for e in failed] == ["id_import_date_unique"]
    assert failed[0].event_specific_data.metadata["duplicate_rows"].value == 1
    assert not tascomi_table(lake, "increment", table.name).exists(day.strftime("%Y%m%d"))
    assert not tascomi_table(lake, "snapshot", table.name).exists(day.strftime("%Y%m%d"))


def test_a_blocked_day_fails_the_next_snapshot_until_one_ranged_backfill(pipeline):
    """Day D blocked by its uniqueness check; the run of D+1 fails at its snapshot (it would
    miss D's versions), naming the day and the way out; after the fix one ranged backfill of
    every stage from D restores the snapshots."""
    simulator, defs, lake, instance, tables = pipeline
    table = tables[1]  # appeals
    first, day, after = DAYS[0], DAYS[1], DAYS[1] + timedelta(days=1)
    every_stage = keys([table], ("api_response", "parsed", "increment", "snapshot"))
    simulator.set_now(api_clock(first))
    assert run(defs, instance, every_stage, first.isoformat()).success
    simulator.set_now(api_clock(day))
    assert run(defs, instance, keys([table], ("api_response",)), day.isoformat()).success
    raw_store = tascomi_table(lake, "api_response", table.name)
    raw = raw_store.read(day.strftime("%Y%m%d"))
    first_record = json.loads(raw[table.name][0].as_py())
    first_record["name"] = "a conflicting copy"
    planted = raw.slice(0, 1).set_column(0, table.name, pa.array([json.dumps(first_record)]))
    raw_store.write(day.strftime("%Y%m%d"), pa.concat_tables([raw, planted]))
    blocked = run(defs, instance, every_stage[1:], day.isoformat())
    assert not blocked.success

    simulator.set_now(api_clock(after))
    result = run(defs, instance, every_stage, after.isoformat())
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failures[0].event_specific_data.error.to_string()
    assert "tascomi appeals snapshot 20240306 is not published" in message
    assert "import 20240305 is not applied" in message
    assert "backfill every stage of appeals from 2024-03-05 to 2024-03-06" in message
    assert not tascomi_table(lake, "snapshot", table.name).exists(after.strftime("%Y%m%d"))

    # The cause fixed (the API serves clean data again): one ranged backfill D .. D+1.
    backfill = run(
        defs,
        instance,
        every_stage,
        tags={
            "dagster/asset_partition_range_start": day.isoformat(),
            "dagster/asset_partition_range_end": after.isoformat(),
        },
    )
    assert backfill.success
    assert_snapshot_matches_truth(lake, simulator, table.name, after)
    inputs_checks = [
        e.event_specific_data
        for e in backfill.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "inputs_applied"
    ]
    assert [c.partition for c in inputs_checks] == [day.isoformat(), after.isoformat()]
    assert all(c.passed for c in inputs_checks)
