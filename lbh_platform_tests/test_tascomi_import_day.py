"""Records changed between midnight and the 03:00 run are in that day's snapshot, once.

The API serves only a record's newest version. A record last updated after midnight on D is
outside every ``last_updated`` day before D, so the import of D also asks for D itself; the
next import asks for D again (to take what changed after the run) and keeps only versions the
import of D did not already hold. Exact timings are planted in the simulator.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from lbh_platform.definitions import build_definitions
from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.tables import load_tables
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator
from lbh_platform_tests.test_tascomi_pipeline import keys, run

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")
DAY = date(2024, 3, 5)  # D; the day before is the first (full) import
BEFORE, AFTER = DAY - timedelta(days=1), DAY + timedelta(days=1)
STAGES = ("api_response", "parsed", "increment", "snapshot")
# Columns that record when the import ran, not what it imported.
RUN_TIME_COLUMNS = {"import_datetime", "import_timestamp"}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LONDON)


@pytest.fixture()
def pipeline(tmp_path, zones, catalogue, monkeypatch):
    config = tmp_path / "tables.yaml"
    config.write_text("tables:\n  - {name: appeals}\n")
    tables = load_tables(config)
    simulator = TascomiSimulator(tables, catalogue, epoch=BEFORE - timedelta(days=20))
    monkeypatch.setenv("TASCOMI_API_URL", simulator.start())
    monkeypatch.setenv("TASCOMI_PUBLIC_KEY", "sim-public-key")
    monkeypatch.setenv("TASCOMI_PRIVATE_KEY", "sim-private-key")
    settings = load_settings()
    defs = build_definitions(tables, catalogue, settings)
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    with dg.instance_for_test() as instance:

        def run_day(day: date) -> None:
            """The 03:00 run of ``day``, all four stages."""
            simulator.set_now(at(day, 3))
            assert run(defs, instance, keys(tables, STAGES), day.isoformat()).success, day

        def backfill(first: date, last: date) -> dg.ExecuteInProcessResult:
            """All four stages over a range in one run (BackfillPolicy.single_run)."""
            tags = {
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            }
            return run(defs, instance, keys(tables, STAGES), tags=tags)

        yield simulator, lake, run_day, backfill
    simulator.stop()


def rows(lake: Lake, stage: str, day: date) -> list[dict]:
    """A partition's rows without the run-time columns, in a stable order."""
    table = tascomi_table(lake, stage, "appeals").read(day.strftime("%Y%m%d"))
    table = table.drop_columns([c for c in table.column_names if c in RUN_TIME_COLUMNS])
    return sorted(table.to_pylist(), key=lambda row: sorted(map(str, row.items())))


def snapshot_by_id(lake: Lake, day: date) -> dict[str, dict]:
    return {
        str(r["id"]): r
        for r in tascomi_table(lake, "snapshot", "appeals").read(day.strftime("%Y%m%d")).to_pylist()
    }


def stamp(row: dict) -> str:
    return row["last_updated"].strftime("%Y-%m-%d %H:%M:%S")


def assert_snapshot_is_api_at_import_time(simulator, lake, day: date) -> None:
    """Every record the API held at the 03:00 run, at its newest version, nothing else."""
    expected = {str(r["id"]): r["last_updated"] for r in simulator.state("appeals", at(day, 3))}
    got = {record_id: stamp(row) for record_id, row in snapshot_by_id(lake, day).items()}
    assert got == expected


def test_record_created_late_on_d_minus_1_and_edited_at_0100_on_d_is_in_snapshot_d(pipeline):
    simulator, lake, run_day, _ = pipeline
    record_id = simulator.plant("appeals", at(BEFORE, 23, 30))
    simulator.plant("appeals", at(DAY, 1), record_id)
    run_day(BEFORE)
    assert record_id not in snapshot_by_id(lake, BEFORE)  # created after that run
    run_day(DAY)
    snapshot = snapshot_by_id(lake, DAY)
    assert record_id in snapshot, "a record the API held at the run is missing from snapshot D"
    assert stamp(snapshot[record_id]) == f"{DAY} 01:00:00"
    assert_snapshot_is_api_at_import_time(simulator, lake, DAY)


def test_record_edited_at_0100_on_d_is_in_snapshot_d_at_that_version(pipeline):
    simulator, lake, run_day, _ = pipeline
    run_day(BEFORE)
    untouched_on_d = [
        r for r in simulator.state("appeals", at(DAY, 3)) if r["last_updated"] < str(BEFORE)
    ]
    record_id = str(untouched_on_d[0]["id"])
    simulator.plant("appeals", at(DAY, 1), record_id)
    newest = next(r for r in simulator.state("appeals", at(DAY, 3)) if str(r["id"]) == record_id)
    run_day(DAY)
    assert stamp(snapshot_by_id(lake, DAY)[record_id]) == f"{DAY} 01:00:00"
    # At that version field by field, as the API serves it (parsed keeps the API's text).
    parsed = tascomi_table(lake, "parsed", "appeals").read(DAY.strftime("%Y%m%d")).to_pylist()
    row = next(r for r in parsed if r["id"] == record_id)
    assert {k: row[k] for k in newest} == newest
    assert_snapshot_is_api_at_import_time(simulator, lake, DAY)


def test_next_import_takes_later_edits_of_d_but_not_the_versions_d_already_holds(pipeline):
    simulator, lake, run_day, _ = pipeline
    early = simulator.plant("appeals", at(DAY, 1))  # taken by the run of D
    late = simulator.plant("appeals", at(DAY, 14))  # after the run of D: taken by D+1
    for day in (BEFORE, DAY, AFTER):
        run_day(day)
        assert_snapshot_is_api_at_import_time(simulator, lake, day)
    taken = {
        day: [(str(r["id"]), stamp(r)) for r in rows(lake, "increment", day)]
        for day in (BEFORE, DAY, AFTER)
    }
    assert (early, f"{DAY} 01:00:00") in taken[DAY]
    assert (late, f"{DAY} 14:00:00") in taken[AFTER]
    everything = [version for versions in taken.values() for version in versions]
    assert len(everything) == len(set(everything)), "a version is counted in two import dates"
    # api_response and parsed hold the same versions as the increment.
    for day in (DAY, AFTER):
        assert tascomi_table(lake, "api_response", "appeals").read(
            day.strftime("%Y%m%d")
        ).num_rows == len(taken[day])


def test_rerunning_d_changes_nothing(pipeline):
    simulator, lake, run_day, _ = pipeline
    record_id = simulator.plant("appeals", at(BEFORE, 23, 30))
    simulator.plant("appeals", at(DAY, 1), record_id)
    run_day(BEFORE)
    run_day(DAY)
    before = {stage: rows(lake, stage, DAY) for stage in STAGES}
    run_day(DAY)
    assert {stage: rows(lake, stage, DAY) for stage in STAGES} == before
    run_day(AFTER)
    after = {stage: rows(lake, stage, AFTER) for stage in STAGES}
    run_day(AFTER)
    assert {stage: rows(lake, stage, AFTER) for stage in STAGES} == after
    assert_snapshot_is_api_at_import_time(simulator, lake, AFTER)


def test_a_ranged_backfill_of_all_stages_is_one_run_and_counts_each_version_once(pipeline):
    simulator, lake, _, backfill = pipeline
    record_id = simulator.plant("appeals", at(BEFORE, 23, 30))
    simulator.plant("appeals", at(DAY, 1), record_id)
    simulator.plant("appeals", at(AFTER, 1), record_id)
    # Backfilled later, in one run over the three days (the API as it is at the last one).
    simulator.set_now(at(AFTER, 3))
    result = backfill(BEFORE, AFTER)
    assert result.success
    done = [
        e.event_specific_data.materialization.partition
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert done == [d.isoformat() for s in STAGES for d in (BEFORE, DAY, AFTER)]
    assert_snapshot_is_api_at_import_time(simulator, lake, AFTER)
    assert stamp(snapshot_by_id(lake, AFTER)[record_id]) == f"{AFTER} 01:00:00"
    versions = [
        (str(r["id"]), stamp(r)) for d in (BEFORE, DAY, AFTER) for r in rows(lake, "increment", d)
    ]
    assert len(versions) == len(set(versions))
    assert len(set(versions)) == len(simulator.state("appeals", at(AFTER, 3)))
