"""The Alloy pipeline in Dagster against the simulator over HTTP: an incremental and a full
dataset over several days, compared with the simulator's ground truth."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow as pa
import pytest

from lbh_platform.alloy.datasets import load_datasets
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.alloy.stages import key_columns
from lbh_platform.alloy.transforms import apply_renames, clean_column_name
from lbh_platform.definitions import build_definitions
from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform_devkit.alloy.simulator import AlloySimulator

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")
DAYS = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7)]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture()
def pipeline(zones, catalogue, monkeypatch):
    datasets = [d for d in load_datasets() if d.name in ("graffiti", "waste_service_defect")]
    assert {d.mode for d in datasets} == {"incremental", "full"}
    simulator = AlloySimulator(datasets, epoch=DAYS[0] - timedelta(days=10), polls_to_complete=2)
    monkeypatch.setenv("ALLOY_API_URL", simulator.start())
    monkeypatch.setenv("ALLOY_API_KEY", "sim-alloy-key")
    monkeypatch.setenv("ALLOY_POLL_SECONDS", "0.05")
    settings = load_settings()
    defs = build_definitions([], catalogue, settings, datasets)
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    with dg.instance_for_test() as instance:
        yield simulator, defs, lake, instance, {d.name: d for d in datasets}
    simulator.stop()


def truth_rows(simulator, dataset, table, moment):
    rows = simulator.state(dataset.name, moment)[table]
    renames = dataset.renames.get(table, {})
    return [
        {
            renames.get(clean_column_name(k), clean_column_name(k)): (v or None)
            for k, v in row.items()
        }
        for row in rows
    ]


def test_incremental_and_full_datasets_match_ground_truth(pipeline):
    simulator, defs, lake, instance, datasets = pipeline
    job = defs.resolve_implicit_global_asset_job_def()
    deleted_seen = 0
    for day in DAYS:
        moment = datetime.combine(day, time(4, 0), LONDON)
        simulator.set_now(moment)
        result = job.execute_in_process(
            instance=instance,
            partition_key=day.isoformat(),
            raise_on_error=False,
            run_config=QUIET,
        )
        assert result.success, day
        failed = [
            e.event_specific_data.check_name
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
        ]
        # Freshness judges today's partition at the real time (test_monitoring.py covers it).
        assert [name for name in failed if name != "freshness_check"] == []
        value = day.strftime("%Y%m%d")
        for dataset in datasets.values():
            root = dataset.name
            (key,) = key_columns(dataset, root)
            snapshot = alloy_table(lake, "snapshot", dataset.name, root).read(value)
            got = {r[key]: r for r in snapshot.to_pylist()}
            expected = {r[key]: r for r in truth_rows(simulator, dataset, root, moment)}
            if dataset.mode == "full":
                assert got.keys() == expected.keys(), (dataset.name, day)
                materialization = instance.get_latest_materialization_event(
                    dg.AssetKey(["alloy", "snapshot", dataset.name, f"{root}_snapshot"])
                )
                deleted_seen += materialization.asset_materialization.metadata["deleted"].value
            else:
                # Incremental exports cannot see deletions: every live item is there, newest.
                assert expected.keys() <= got.keys(), (dataset.name, day)
            for item, row in expected.items():
                for column, value_ in row.items():
                    if column in got[item]:
                        assert got[item][column] == value_, (dataset.name, day, item, column)
    assert deleted_seen > 0
    # Incremental exports after the first carried the watermark filter, combined with the
    # query's own filter children.
    bodies = [b for b in simulator.export_requests if b["fileName"] == "Graffiti.csv"]
    assert len(bodies) == len(DAYS)
    assert "lastEditDate" not in str(bodies[0]["aqs"])
    assert all("lastEditDate" in str(b["aqs"]) for b in bodies[1:])


def test_renames_apply_and_missing_keys_are_no_ops(pipeline):
    _, _, _, _, datasets = pipeline
    dataset = datasets["graffiti"]
    table = apply_renames(
        pa.table({"status": ["x"], "other": ["y"]}),
        {**dataset.renames["graffiti"], "absent_column": "whatever"},
    )
    assert table.column_names == ["status_id", "other"]
