"""Freshness and volume checks from configuration: the rule with a fixed history, the
configuration file, and the checks evaluated by Dagster over the instance's records."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.monitoring_config import (
    MonitoringConfig,
    VolumeBand,
    load_monitoring_config,
)
from lbh_platform.common.volume import comparable_history, volume_outcome
from lbh_platform.definitions import build_definitions
from lbh_platform.lib.monitoring.freshness import build_freshness
from lbh_platform.lib.partitions import daily_partitions
from lbh_platform.tascomi.tables import load_tables

LONDON = ZoneInfo("Europe/London")
BAND = VolumeBand(window=28, min_history=5, lower=0.2, upper=5.0)


# -- the rule ---------------------------------------------------------------------------------


def test_zero_rows_against_a_non_zero_history_warns():
    outcome = volume_outcome(0, [100, 90, 110, 95, 105], BAND)
    assert not outcome.passed
    assert "0 rows" in outcome.description and "100" in outcome.description
    assert outcome.metadata["baseline_median"] == 100


@pytest.mark.parametrize(
    ("rows", "passed"), [(19, False), (20, True), (100, True), (500, True), (501, False)]
)
def test_band_edges_are_multiples_of_the_median(rows, passed):
    assert volume_outcome(rows, [100, 100, 100, 100, 100], BAND).passed is passed


def test_no_verdict_without_enough_history_and_zero_allowed_by_lower_zero():
    assert volume_outcome(0, [100, 100, 100, 100], BAND).passed  # 4 of 5
    assert volume_outcome(0, [100] * 5, VolumeBand(lower=0.0)).passed
    assert volume_outcome(0, [0] * 10, BAND).passed  # an always-empty table


def test_history_is_the_newest_earlier_partitions_of_the_same_day_type():
    start = date(2024, 1, 1)  # a Monday
    history = {
        start + timedelta(days=n): 1000 if (start + timedelta(days=n)).weekday() < 5 else 10
        for n in range(63)
    }
    monday = date(2024, 3, 4)
    history[monday + timedelta(days=1)] = 5  # later partitions never count
    weekday = comparable_history(history, monday, VolumeBand(window=28))
    assert weekday == [1000] * 28
    saturday = date(2024, 3, 2)
    assert set(comparable_history(history, saturday, VolumeBand(window=28))) == {10}
    weekly = comparable_history(history, monday, VolumeBand(window=3), weekly=True)
    assert weekly == [10, 10, 1000]  # Sun, Sat, Fri: every partition is the same type
    # A quiet weekend does not make Monday's normal volume an anomaly, nor the reverse.
    assert volume_outcome(1000, weekday, BAND).passed
    assert not volume_outcome(1000, comparable_history(history, saturday, BAND), BAND).passed


# -- configuration ----------------------------------------------------------------------------


def test_shipped_configuration_and_overrides(tmp_path):
    shipped = load_monitoring_config()
    assert shipped.deadline("tascomi/snapshot/appeals_snapshot", "daily") == "0 6 * * *"
    assert shipped.deadline("tascomi/snapshot/wards_snapshot", "weekly") == "0 6 * * 0"
    assert shipped.deadline("alloy/snapshot/x/y", "weekdays") == "0 6 * * 1-5"
    path = tmp_path / "monitoring.yaml"
    path.write_text(
        "freshness:\n  overrides: {'tascomi/snapshot/appeals_snapshot': '30 7 * * *'}\n"
        "volume:\n  defaults: {lower: 0.5}\n"
        "  overrides: {'tascomi/increment/appeals_increment': {upper: 10}}\n"
    )
    config = load_monitoring_config(path)
    assert config.deadline("tascomi/snapshot/appeals_snapshot", "daily") == "30 7 * * *"
    assert config.deadline("tascomi/snapshot/fees_snapshot", "daily") == "0 6 * * *"
    assert config.band("tascomi/increment/appeals_increment") == VolumeBand(lower=0.5, upper=10)
    assert config.band("tascomi/increment/fees_increment") == VolumeBand(lower=0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("freshness: {deadlines: {hourly: '0 * * * *'}}", "unknown cadence 'hourly'"),
        ("freshness: {overrides: {'tascomi/snapshot/a': 'at six'}}", "five-field cron"),
        ("volume: {overrides: {'tascomi/increment/a': {lowr: 1}}}", "unknown field(s) ['lowr']"),
        ("volume: {defaults: {lower: 3, upper: 2}}", "lower (3) is above upper (2)"),
        ("volume: {defaults: {window: 0}}", "window must be a whole number"),
    ],
)
def test_bad_configuration_names_the_entry_and_the_fix(tmp_path, text, message):
    path = tmp_path / "monitoring.yaml"
    path.write_text(text)
    with pytest.raises(
        ConfigurationError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        load_monitoring_config(path)


# -- definitions --------------------------------------------------------------------------------


@pytest.fixture()
def two_tables(tmp_path, catalogue, settings):
    config = tmp_path / "tables.yaml"
    config.write_text(
        "tables:\n  - {name: appeals}\n  - {name: planning_brand_new, cadence: weekly}\n"
    )
    return build_definitions(load_tables(config), catalogue, settings)


def test_a_new_table_entry_is_monitored_with_no_code_change(two_tables):
    checks = {
        (k.asset_key.to_user_string(), k.name)
        for k in two_tables.resolve_asset_graph().asset_check_keys
    }
    for table in ("appeals", "planning_brand_new"):
        assert (f"tascomi/snapshot/{table}_snapshot", "freshness_check") in checks
        assert (f"tascomi/api_response/{table}_api_response", "row_count_vs_history") in checks
        assert (f"tascomi/increment/{table}_increment", "row_count_vs_history") in checks
    sensors = (
        {s.name for s in two_tables.resolve_sensor_defs()}
        if hasattr(two_tables, "resolve_sensor_defs")
        else {s.name for s in two_tables.get_repository_def().sensor_defs}
    )
    assert {"tascomi_freshness", "lbh_run_failure_alerts", "lbh_check_failure_alerts"} <= sensors


def _run_check(defs, instance, check_key, partition=None):
    job = dg.define_asset_job("one_check", selection=dg.AssetSelection.checks(check_key))
    merged = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    # A checks-only run has no asset to take a partition key from, so the partition goes in
    # the run's tags (as the daemon does when it launches a partitioned run).
    result = merged.resolve_job_def("one_check").execute_in_process(
        instance=instance,
        tags={"dagster/partition": partition} if partition else None,
        raise_on_error=False,
    )
    return [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


@pytest.mark.parametrize(
    ("table", "materialised", "now", "passed", "expected"),
    [
        ("appeals", "2024-03-12", datetime(2024, 3, 12, 6, 30, tzinfo=LONDON), True, "2024-03-12"),
        ("appeals", "2024-03-11", datetime(2024, 3, 12, 6, 30, tzinfo=LONDON), False, "2024-03-12"),
        # Before 06:00 the deadline that passed is yesterday's.
        ("appeals", "2024-03-11", datetime(2024, 3, 12, 5, 30, tzinfo=LONDON), True, "2024-03-11"),
        # British Summer Time: 06:00 London is 05:00 UTC.
        (
            "appeals",
            "2024-07-01",
            datetime(2024, 7, 2, 5, 30, tzinfo=ZoneInfo("UTC")),
            False,
            "2024-07-02",
        ),
        # Weekly static tables: the Sunday partition by Sunday 06:00, all week long.
        (
            "planning_brand_new",
            "2024-03-10",
            datetime(2024, 3, 15, 12, 0, tzinfo=LONDON),
            True,
            "2024-03-10",
        ),
        (
            "planning_brand_new",
            "2024-03-03",
            datetime(2024, 3, 10, 6, 30, tzinfo=LONDON),
            False,
            "2024-03-10",
        ),
    ],
)
def test_freshness_expects_the_partition_of_the_day_by_its_deadline(
    two_tables, table, materialised, now, passed, expected
):
    key = dg.AssetKey(["tascomi", "snapshot", f"{table}_snapshot"])
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=materialised))
        with freeze_time(now):
            [evaluation] = _run_check(
                two_tables, instance, dg.AssetCheckKey(key, "freshness_check")
            )
    assert evaluation.passed is passed
    assert expected in evaluation.description
    assert evaluation.severity == dg.AssetCheckSeverity.WARN


def test_volume_checks_ride_in_the_stage_check_steps(two_tables):
    """Every check step costs Dagster its own events and storage writes, so a table's volume
    checks run in the check steps its stages already have; a run of ``api_response`` alone
    (the scheduled ingest) still evaluates that asset's volume check."""
    from lbh_platform.defs.tascomi.spec import DAILY_INGEST_JOB, DAILY_PIPELINE_JOB

    def volume(stage: str) -> dg.AssetCheckKey:
        return dg.AssetCheckKey(
            dg.AssetKey(["tascomi", stage, f"appeals_{stage}"]), "row_count_vs_history"
        )

    pipeline = two_tables.resolve_job_def(DAILY_PIPELINE_JOB)
    check_steps = {
        n.name
        for n in pipeline.nodes
        if n.name.endswith("_checks")  # not the assets' steps, nor the freshness check
    }
    assert check_steps == {
        f"tascomi_appeals_{stage}_checks"
        for stage in ("parsed", "increment", "snapshot", "history")
    }
    checks = pipeline.asset_layer.asset_graph.asset_check_keys
    assert {volume("api_response"), volume("increment")} <= set(checks)

    ingest = two_tables.resolve_job_def(DAILY_INGEST_JOB)
    assert [n.name for n in ingest.nodes if "checks" in n.name] == ["tascomi_appeals_parsed_checks"]
    assert set(ingest.asset_layer.asset_graph.asset_check_keys) == {volume("api_response")}


def test_volume_check_reads_row_counts_from_dagster_records(two_tables):
    key = dg.AssetKey(["tascomi", "increment", "appeals_increment"])
    check = dg.AssetCheckKey(key, "row_count_vs_history")
    first = date(2024, 2, 1)
    with dg.instance_for_test() as instance:

        def record(day: date, rows: int) -> None:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    key, partition=day.isoformat(), metadata={"dagster/row_count": rows}
                )
            )

        for n in range(28):
            day = first + timedelta(days=n)
            record(day, 400 if day.weekday() < 5 else 40)
        record(date(2024, 2, 28), 9999)  # re-materialised: only the newest counts
        record(date(2024, 2, 28), 400)
        record(date(2024, 2, 29), 0)  # a Thursday with nothing
        record(date(2024, 3, 2), 45)  # a normal Saturday
        [empty] = _run_check(two_tables, instance, check, "2024-02-29")
        [saturday] = _run_check(two_tables, instance, check, "2024-03-02")
    assert not empty.passed and empty.severity == dg.AssetCheckSeverity.WARN
    assert "0 rows" in empty.description and "median" in empty.description
    assert empty.metadata["baseline_median"].value == 400
    assert empty.partition == "2024-02-29"
    assert saturday.passed, saturday.description
    assert saturday.metadata["baseline_median"].value == 40


@pytest.mark.parametrize(
    ("materialised", "now", "passed", "expected"),
    [
        # Saturday: the last weekday deadline was Friday 06:00, for Friday's partition.
        ("2024-03-08", datetime(2024, 3, 9, 12, 0, tzinfo=LONDON), True, "2024-03-08"),
        # Monday 07:00: Monday's export is due.
        ("2024-03-08", datetime(2024, 3, 11, 7, 0, tzinfo=LONDON), False, "2024-03-11"),
    ],
)
def test_weekday_freshness_for_alloy(materialised, now, passed, expected):
    key = dg.AssetKey(["alloy", "snapshot", "graffiti", "graffiti_snapshot"])
    checks, sensors = build_freshness("alloy", {key: "weekdays"}, MonitoringConfig())
    assert [s.name for s in sensors] == ["alloy_freshness"]
    defs = dg.Definitions(
        assets=[dg.AssetSpec(key, partitions_def=daily_partitions)], asset_checks=checks
    )
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=materialised))
        with freeze_time(now):
            [evaluation] = _run_check(defs, instance, dg.AssetCheckKey(key, "freshness_check"))
    assert evaluation.passed is passed
    assert expected in evaluation.description
