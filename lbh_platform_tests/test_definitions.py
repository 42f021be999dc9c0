"""Definitions built from configuration: one entry gives four stages, checks and a schedule."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from lbh_platform.definitions import build_definitions
from lbh_platform.tascomi.tables import load_tables

LONDON = ZoneInfo("Europe/London")
STAGES = ("api_response", "parsed", "increment", "snapshot")


def test_shipped_configuration_has_all_48_tables_with_their_checks(catalogue, settings):
    tables = load_tables()
    assert len(tables) == 48
    assert sum(t.cadence == "daily" for t in tables) == 21
    defs = build_definitions(tables, catalogue, settings)
    keys = {k for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert len(keys) == 48 * 5  # four stages and the history
    check_keys = defs.resolve_asset_graph().asset_check_keys
    apps = dg.AssetKey(["tascomi", "parsed", "applications_parsed"])
    assert dg.AssetCheckKey(apps, "application_reference_number_complete") in check_keys
    pc = dg.AssetKey(["tascomi", "parsed", "public_consultations_parsed"])
    assert dg.AssetCheckKey(pc, "document_id_complete") in check_keys


def test_new_table_entry_yields_stages_checks_and_schedule(tmp_path, catalogue, settings):
    config = tmp_path / "tables.yaml"
    config.write_text(
        "tables:\n  - {name: appeals}\n  - {name: planning_brand_new, cadence: weekly}\n"
    )
    defs = build_definitions(load_tables(config), catalogue, settings)
    graph = defs.resolve_asset_graph()
    for stage in (*STAGES, "history"):
        assert (
            dg.AssetKey(["tascomi", stage, f"planning_brand_new_{stage}"])
            in graph.get_all_asset_keys()
        )
    checks = {
        (k.asset_key.path[1], k.name)
        for k in graph.asset_check_keys
        if k.asset_key.path[2] == f"planning_brand_new_{k.asset_key.path[1]}"
    }
    assert ("parsed", "id_import_date_unique") in checks
    assert ("snapshot", "id_unique") in checks
    assert ("increment", "no_cast_failures") in checks
    assert ("history", "holds_snapshot") in checks
    schedule = defs.resolve_schedule_def("tascomi_weekly_static_sunday_0300")
    job = defs.resolve_job_def(schedule.job_name)
    selected = job.asset_layer.selected_asset_keys
    assert dg.AssetKey(["tascomi", "api_response", "planning_brand_new_api_response"]) in selected
    assert dg.AssetKey(["tascomi", "api_response", "appeals_api_response"]) not in selected


@pytest.mark.parametrize(
    ("schedule_name", "when", "partition"),
    [
        ("tascomi_daily_0300", datetime(2024, 3, 12, 3, 0, tzinfo=LONDON), "2024-03-12"),
        ("tascomi_daily_0300", datetime(2024, 7, 2, 3, 0, tzinfo=LONDON), "2024-07-02"),  # BST
        (
            "tascomi_weekly_static_sunday_0300",
            datetime(2024, 3, 10, 3, 0, tzinfo=LONDON),
            "2024-03-10",
        ),
    ],
)
def test_schedules_request_the_import_date_partition(
    schedule_name, when, partition, catalogue, settings
):
    defs = build_definitions(load_tables(), catalogue, settings)
    schedule = defs.resolve_schedule_def(schedule_name)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=when,
            repository_def=defs.get_repository_def(),
        )
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == [partition]
    cron = schedule.cron_schedule
    assert cron.startswith("0 3 ")
    assert schedule.execution_timezone in (None, "Europe/London")


def test_automation_runs_the_next_stage_when_upstream_lands(catalogue, settings, tmp_path):
    config = tmp_path / "tables.yaml"
    config.write_text("tables:\n  - {name: appeals}\n")
    defs = build_definitions(load_tables(config), catalogue, settings)
    now = datetime(2024, 3, 12, 3, 30, tzinfo=LONDON)
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=now)
        assert first.total_requested == 0
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                dg.AssetKey(["tascomi", "api_response", "appeals_api_response"]),
                partition="2024-03-12",
            )
        )
        second = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=now, cursor=first.cursor
        )
        parsed = dg.AssetKey(["tascomi", "parsed", "appeals_parsed"])
        assert second.total_requested == 1
        assert second.get_requested_partitions(parsed) == {"2024-03-12"}
