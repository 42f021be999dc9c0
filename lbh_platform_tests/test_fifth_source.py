"""A made-up fifth source, written only against the source contract, gets from the one
builder everything a shipped source has: assets keyed by the one rule, its checks, a job and
schedule, freshness and volume checks, runs that publish SQL tables. Adding a source is a
folder (``lbh_platform_tests/fifth_source/``: a spec and a stand-in) and one build call."""

import ast
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from lbh_platform.lib.build import build_source
from lbh_platform.lib.engine import build_engine_resources
from lbh_platform.lib.resources import LakeResource
from lbh_platform_tests.fifth_source.spec import API, parking_source, table_at
from lbh_platform_tests.fifth_source.stand_in import ParkingApiStandIn

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DAYS = [date(2024, 3, 4), date(2024, 3, 5)]
RECORDS = {
    "permits": [
        {"id": "P1", "name": "Ada", "updated": "2024-03-04"},
        {"id": "P2", "name": "Bo", "updated": "2024-03-04"},
        {"id": "P1", "name": "Ada L.", "updated": "2024-03-05"},
        {"id": "P3", "name": "Cy", "updated": "2024-03-05"},
    ],
    "zones": [{"id": "Z1", "name": "Dalston", "updated": "2024-03-04"}],
}


def _definitions(tmp_path: Path, api: ParkingApiStandIn) -> tuple[dg.Definitions, LakeResource]:
    lake = LakeResource(raw_zone=str(tmp_path / "raw"), refined_zone=str(tmp_path / "refined"))
    source = build_source(parking_source(["permits", "zones"], {API: lambda: api}))
    shared = dg.Definitions(resources={**build_engine_resources(), "lake": lake})
    return dg.Definitions.merge(source, shared), lake


def test_the_spec_module_needs_no_dagster():
    spec = Path(__file__).parent / "fifth_source" / "spec.py"
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(spec.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert "dagster" not in imported


def test_the_builder_gives_a_new_source_every_definition(tmp_path):
    defs, _ = _definitions(tmp_path, ParkingApiStandIn(RECORDS))
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        f"parking/{stage}/{table}_{stage}"
        for stage in ("api_response", "snapshot")
        for table in ("permits", "zones")
    }
    snapshot = dg.AssetKey(["parking", "snapshot", "permits_snapshot"])
    assert graph.get(snapshot).parent_keys == {
        dg.AssetKey(["parking", "api_response", "permits_api_response"])
    }
    assert graph.get(snapshot).automation_condition is not None
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("parking/api_response/permits_api_response", "id_unique_and_present") in checks
    assert ("parking/snapshot/permits_snapshot", "freshness_check") in checks
    assert any(
        key == "parking/api_response/zones_api_response" and name == "row_count_vs_history"
        for key, name in checks
    )
    blocking = {k.name for k in graph.asset_check_keys if graph.get_check_spec(k).blocking}
    assert "id_unique_and_present" in blocking
    [schedule] = [s for s in defs.schedules if s.name == "parking_daily_0600"]
    assert (schedule.cron_schedule, schedule.job_name) == ("0 6 * * *", "parking_daily_fetch")
    assert {s.name for s in defs.sensors} >= {"parking_freshness"}
    fetch = defs.resolve_job_def("parking_daily_fetch")
    assert {k.path[1] for k in fetch.asset_layer.executable_asset_keys} == {"api_response"}


def test_runs_publish_checked_partitions_queryable_with_sql(tmp_path):
    api = ParkingApiStandIn(RECORDS)
    defs, lake_resource = _definitions(tmp_path, api)
    job = defs.resolve_job_def("parking_pipeline")
    with dg.instance_for_test() as instance:
        for day in DAYS:
            result = job.execute_in_process(
                instance=instance, partition_key=day.isoformat(), run_config=QUIET
            )
            assert result.success
            evaluations = [
                e.event_specific_data
                for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
            ]
            assert {e.check_name for e in evaluations} >= {"id_unique_and_present"}
            assert all(e.passed for e in evaluations if e.check_name == "id_unique_and_present")
        snapshot_key = dg.AssetKey(["parking", "snapshot", "permits_snapshot"])
        materialized = instance.get_materialized_partitions(snapshot_key)
        latest = instance.get_latest_materialization_event(snapshot_key).asset_materialization
        columns = {c.name: c for c in latest.metadata["dagster/column_schema"].value.columns}
    assert materialized == {d.isoformat() for d in DAYS}
    assert ("permits", DAYS[1]) in api.calls
    # Every materialisation carries its columns; the declared personal one is tagged.
    assert columns["name"].tags == {"pii": ""} and columns["id"].tags == {}
    assert columns["id"].type == "string"
    lake = lake_resource.lake()
    latest = table_at(lake, "snapshot", "permits").read("20240305").to_pylist()
    assert sorted((r["id"], r["name"]) for r in latest) == [
        ("P1", "Ada L."),
        ("P2", "Bo"),
        ("P3", "Cy"),
    ]
    database = lake.database("parking", "refined")
    catalog = tmp_path / "catalog.duckdb"
    with duckdb.connect(str(catalog), read_only=True) as connection:
        rows = connection.execute(
            f'SELECT snapshot_date, count(*) FROM "{database}"."parking_permits" '
            "GROUP BY snapshot_date ORDER BY snapshot_date"
        ).fetchall()
        # The declared personal column stays out of the masked view analysts query.
        masked = connection.execute(
            f'SELECT * FROM "{database}"."parking_permits_masked" LIMIT 0'
        ).description
    assert [(str(d), n) for d, n in rows] == [("20240304", 2), ("20240305", 3)]
    assert "name" not in [column[0] for column in masked] and "id" in [c[0] for c in masked]


def test_retention_and_erasure_take_the_new_source_from_its_spec(tmp_path, monkeypatch, capsys):
    """Its housekeeping comes with its spec: the retention and erase commands (which walk
    every source's spec) plan its snapshots and find its records with no change of theirs."""
    from lbh_platform.cli import erase, retention

    api = ParkingApiStandIn(RECORDS)
    defs, lake_resource = _definitions(tmp_path, api)
    with dg.instance_for_test() as instance:
        for day in DAYS:
            defs.resolve_job_def("parking_pipeline").execute_in_process(
                instance=instance, partition_key=day.isoformat(), run_config=QUIET
            )
    spec = parking_source(["permits", "zones"], {})
    for module in (erase, retention):
        monkeypatch.setattr(module, "all_source_specs", lambda: [spec])
    lake = lake_resource.lake()
    assert retention.run(["parking", "--today", "2024-12-31", "--verbose"], lake=lake) == 0
    out = capsys.readouterr().out
    assert "parking/permits:" in out and "parking/zones:" in out
    assert "keep   20240305" in out  # the newest is always kept
    keys = tmp_path / "keys.txt"
    keys.write_text("P1\n")
    assert erase.run(["parking", "permits", "--keys-file", str(keys)], lake=lake) == 0
    out = capsys.readouterr().out
    assert "snapshot" in out and "api_response" in out and "P1" not in out
