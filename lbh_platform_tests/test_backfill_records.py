"""After a one-run backfill the instance's records are right per day: one materialisation per
partition with that day's own row count, and one check evaluation per partition that the UI
counts as current (so a check's Partitions tab shows passed/failed, never *Missing*), with a
planted blocking failure on one day only."""

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow as pa
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from lbh_platform.definitions import build_definitions
from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.tables import load_tables
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")
TABLE = "appeals"
DAYS = [date(2024, 3, 4) + timedelta(days=n) for n in range(5)]
PLANTED = DAYS[2]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def key(stage: str) -> dg.AssetKey:
    return dg.AssetKey(["tascomi", stage, f"{TABLE}_{stage}"])


def ranged(defs, instance, stages: tuple[str, ...], days: list[date]):
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={key(s) for s in stages}
    )
    return job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat(),
        },
        raise_on_error=False,
        run_config=QUIET,
    )


def latest_per_partition(instance, asset_key: dg.AssetKey) -> dict[str, dg.EventLogRecord]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key), limit=1000
    ).records
    latest: dict[str, dg.EventLogRecord] = {}
    for record in records:  # newest first
        latest.setdefault(record.partition_key, record)
    return latest


def check_status(instance, asset_key: dg.AssetKey, name: str) -> dict[str, str]:
    """Per partition, what a check's Partitions tab shows (a stale result counts as missing)."""
    infos = instance.event_log_storage.get_asset_check_partition_info(
        [dg.AssetCheckKey(asset_key, name)]
    )
    shown = {}
    for info in infos:
        if not info.is_current:
            shown[info.partition_key] = "missing"
        elif info.latest_execution_status == AssetCheckExecutionRecordStatus.SUCCEEDED:
            shown[info.partition_key] = "passed"
        elif info.latest_execution_status == AssetCheckExecutionRecordStatus.FAILED:
            shown[info.partition_key] = "failed"
        else:
            shown[info.partition_key] = info.latest_execution_status.value
    return shown


def test_one_run_backfill_records_each_day_and_each_check_result(
    tmp_path, zones, catalogue, monkeypatch
):
    config = tmp_path / "tables.yaml"
    config.write_text(f"tables:\n  - {{name: {TABLE}}}\n")
    tables = load_tables(config)
    simulator = TascomiSimulator(tables, catalogue, epoch=DAYS[0] - timedelta(days=20))
    monkeypatch.setenv("TASCOMI_API_URL", simulator.start())
    monkeypatch.setenv("TASCOMI_PUBLIC_KEY", "sim-public-key")
    monkeypatch.setenv("TASCOMI_PRIVATE_KEY", "sim-private-key")
    try:
        simulator.set_now(datetime.combine(DAYS[-1] + timedelta(days=1), time(3), LONDON))
        settings = load_settings()
        defs = build_definitions(tables, catalogue, settings)
        lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
        with dg.instance_for_test() as instance:
            assert ranged(defs, instance, ("api_response",), DAYS).success
            raw_store = tascomi_table(lake, "api_response", TABLE)
            raw_rows = {d: raw_store.read(d.strftime("%Y%m%d")).num_rows for d in DAYS}
            raw = raw_store.read(PLANTED.strftime("%Y%m%d"))
            record = json.loads(raw[TABLE][0].as_py())
            record["last_updated"] = "1999-01-01 00:00:00"  # same id, different content
            planted = raw.slice(0, 1).set_column(
                raw.column_names.index(TABLE), TABLE, pa.array([json.dumps(record)])
            )
            raw_store.write(PLANTED.strftime("%Y%m%d"), pa.concat_tables([raw, planted]))

            result = ranged(defs, instance, ("parsed",), DAYS)
            assert not result.success  # the blocking check failed (on one day)

            for stage in ("api_response", "parsed"):
                latest = latest_per_partition(instance, key(stage))
                assert sorted(latest) == [d.isoformat() for d in DAYS], stage
                counts = {}
                for day in DAYS:
                    metadata = latest[day.isoformat()].asset_materialization.metadata
                    stored = (
                        raw_rows[day]
                        if stage == "api_response"
                        else tascomi_table(lake, stage, TABLE).read(day.strftime("%Y%m%d")).num_rows
                    )
                    assert metadata["dagster/row_count"].value == stored, (stage, day)
                    assert metadata["partition"].value == day.strftime("%Y%m%d")
                    counts[day] = stored
                assert len(set(counts.values())) > 1, f"{stage}: every day has {counts}"
            assert (
                latest_per_partition(instance, key("parsed"))[PLANTED.isoformat()]
                .asset_materialization.metadata["dagster/row_count"]
                .value
                == raw.num_rows + 1
            )

            unique = check_status(instance, key("parsed"), "id_import_date_unique")
            complete = check_status(instance, key("parsed"), "id_complete")
            expected = {d.isoformat(): "passed" for d in DAYS}
            assert complete == expected
            # The volume check too: one current result per backfilled day.
            assert check_status(instance, key("api_response"), "row_count_vs_history") == expected
            assert unique == {**expected, PLANTED.isoformat(): "failed"}
    finally:
        simulator.stop()
