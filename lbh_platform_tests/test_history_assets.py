"""The ``history`` asset of every Alloy table and event-streamed entity, in Dagster over a
multi-week run against the stand-ins: "as of D" is snapshot D for every day, the history's
check is green every day, and a snapshot re-written afterwards turns it red until the history
is materialised again. (Tascomi's history: test_history_tascomi.py, on the same functions.)"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from lbh_platform.alloy.datasets import load_datasets
from lbh_platform.alloy.history import history_of as alloy_history
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.common.import_columns import IMPORT_METADATA_COLUMNS, SNAPSHOT_COLUMNS, yyyymmdd
from lbh_platform.definitions import build_definitions
from lbh_platform.defs.event_streams.definitions import build_event_streams_definitions
from lbh_platform.defs.event_streams.spec import job_names
from lbh_platform.event_streams.history import history_of as stream_history
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.spec import load_event_streams
from lbh_platform.history import from_snapshots, maintain
from lbh_platform.history.from_snapshots import HISTORY_KEY
from lbh_platform.lib.engine import build_engine_resources
from lbh_platform.lib.resources import LakeResource
from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform_devkit.alloy.simulator import AlloySimulator
from lbh_platform_devkit.event_streams.generator import generate_stream, write_day
from lbh_platform_devkit.event_streams.stand_in import stand_in_for

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
FIRST = date(2024, 3, 4)  # a Monday
WEEKDAYS = [d for n in range(12) if (d := FIRST + timedelta(days=n)).weekday() < 5]  # 2 weeks
DAYS = [FIRST + timedelta(days=n) for n in range(15)]


def rows_of(table: pa.Table, leave_out: tuple[str, ...]) -> list[dict]:
    dropped = {*SNAPSHOT_COLUMNS, HISTORY_KEY, *leave_out}
    kept = table.select([c for c in table.column_names if c not in dropped])
    return sorted(kept.to_pylist(), key=canonical)


def canonical(row: dict) -> str:
    return repr(sorted(row.items()))


def assert_as_of_is_snapshot(history, snapshots, day: str, leave_out=()) -> int:  # noqa: ANN001
    """As of ``day`` is snapshot ``day`` on the snapshot's columns; a column only the history
    has (added on a later day) is null. Returns the rows compared."""
    want = rows_of(snapshots.read(day), leave_out)
    got = rows_of(maintain.as_of(history, day), leave_out)
    columns = set(want[0]) if want else set()
    assert sorted(({k: r.get(k) for k in columns} for r in got), key=canonical) == want, day
    assert all(r[c] is None for r in got for c in set(r) - columns), day
    return len(want)


def failed_checks(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        e.event_specific_data.check_name
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    }


def test_alloy_histories_answer_every_weekday_as_its_snapshot(zones, catalogue, monkeypatch):
    datasets = [d for d in load_datasets() if d.name in ("graffiti", "waste_service_defect")]
    assert {d.mode for d in datasets} == {"incremental", "full"}
    simulator = AlloySimulator(datasets, epoch=FIRST - timedelta(days=10), polls_to_complete=2)
    monkeypatch.setenv("ALLOY_API_URL", simulator.start())
    monkeypatch.setenv("ALLOY_API_KEY", "sim-alloy-key")
    monkeypatch.setenv("ALLOY_POLL_SECONDS", "0.05")
    settings = load_settings()
    defs = build_definitions([], catalogue, settings, datasets)
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    job = defs.resolve_implicit_global_asset_job_def()
    try:
        with dg.instance_for_test() as instance:
            for day in WEEKDAYS:
                simulator.set_now(datetime.combine(day, time(4, 0), LONDON))
                result = job.execute_in_process(
                    instance=instance,
                    partition_key=day.isoformat(),
                    raise_on_error=False,
                    run_config=QUIET,
                )
                assert result.success, day
                assert failed_checks(result) <= {"freshness_check"}, day
    finally:
        simulator.stop()
    compared = 0
    for dataset in datasets:
        # A full export re-imports every row daily; its history keeps the import that
        # brought each version, so the import columns are not compared there.
        leave_out = IMPORT_METADATA_COLUMNS if dataset.mode == "full" else ()
        for table in dataset.tables:
            history = alloy_history(lake, dataset, table)
            snapshots = alloy_table(lake, "snapshot", dataset.name, table)
            for day in WEEKDAYS:
                compared += assert_as_of_is_snapshot(
                    history.history, snapshots, yyyymmdd(day), leave_out
                )
            versions = maintain.versions(history.history)
            latest = snapshots.read(yyyymmdd(WEEKDAYS[-1])).num_rows
            # One version per change, not one per row per day.
            assert versions.num_rows < latest * len(WEEKDAYS) / 2, (dataset.name, table)
    assert compared > 0
    # The local SQL catalogue made each history's "as of" macro as it registered it.
    database = lake.database("env-services", "refined")
    last = yyyymmdd(WEEKDAYS[-1])
    with duckdb.connect(settings.duckdb_path, read_only=True) as connection:
        for dataset in datasets:
            name = f"alloy_history_{dataset.name}_{dataset.name}"
            (count,) = connection.execute(
                f'select count(*) from "{database}"."{name}_as_of"(?)', [last]
            ).fetchone()
            snapshot = alloy_table(lake, "snapshot", dataset.name, dataset.name).read(last)
            assert count == snapshot.num_rows, name


def test_event_stream_histories_answer_every_day_and_follow_a_rebuilt_snapshot(zones, monkeypatch):
    raw, refined = zones
    streams = load_event_streams()
    lake_resource = LakeResource(raw_zone=str(raw), refined_zone=str(refined))
    lake = lake_resource.lake()
    generated = {s.name: generate_stream(s, DAYS, entities=15, seed=5) for s in streams}
    with stand_in_for(streams) as stand_in:
        for stream in streams:
            stand_in.load(stream, generated[stream.name].initial)
            for day in DAYS:
                write_day(lake, generated[stream.name].day(day), stream)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", stand_in.endpoint_url)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        shared = dg.Definitions(resources={**build_engine_resources(), "lake": lake_resource})
        defs = dg.Definitions.merge(build_event_streams_definitions(streams), shared)
        with dg.instance_for_test() as instance:

            def run(job: str, day: date) -> dg.ExecuteInProcessResult:
                result = defs.resolve_job_def(job).execute_in_process(
                    instance=instance,
                    partition_key=day.isoformat(),
                    run_config=QUIET,
                    raise_on_error=False,
                )
                assert result.success, (job, day)
                return result

            for stream in streams:
                names = job_names(stream)
                for number, day in enumerate(DAYS):
                    result = run(names["pipeline" if number == 0 else "daily"], day)
                    failed = failed_checks(result)
                    assert failed <= {"every_event_parsed", "freshness_check"}, (day, failed)
                history = stream_history(lake, stream)
                snapshots = stage_table(lake, stream, "snapshot")
                for day in DAYS:
                    assert_as_of_is_snapshot(history.history, snapshots, yyyymmdd(day))
                entities = snapshots.read(yyyymmdd(DAYS[-1])).num_rows
                assert maintain.versions(history.history).num_rows < entities * len(DAYS) / 2

            # A snapshot re-written after the history took it: the history no longer holds
            # it (its check says which), until the history is materialised again.
            stream = streams[0]
            history = stream_history(lake, stream)
            snapshots = stage_table(lake, stream, "snapshot")
            middle, last = yyyymmdd(DAYS[7]), yyyymmdd(DAYS[-1])
            snapshots.write(middle, snapshots.read(middle).slice(1))  # one entity fewer
            assert f"snapshot {middle}" in (from_snapshots.behind(history, last) or "")
            key = dg.AssetKey([stream.name, "history", f"{stream.table}_history"])
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance,
                partition_key=DAYS[-1].isoformat(),
                asset_selection=[key],
                run_config=QUIET,
            )
            assert result.success and not failed_checks(result) - {"freshness_check"}
            assert from_snapshots.behind(history, last) is None
            for day in DAYS:
                assert_as_of_is_snapshot(history.history, snapshots, yyyymmdd(day))
