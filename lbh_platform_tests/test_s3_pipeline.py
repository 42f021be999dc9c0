"""The whole Tascomi pipeline in Dagster on S3 zones with the Glue catalogue, both on moto's
server over HTTP, and the API keys from Secrets Manager: the lake matches the simulator's
ground truth and the catalogue holds every table and partition, with no crawler."""

import json
from datetime import date, timedelta

import dagster as dg
import pytest

from lbh_platform.definitions import build_definitions
from lbh_platform.defs.alloy.resources import alloy_api_resource
from lbh_platform.defs.tascomi.resources import tascomi_api_resource
from lbh_platform.lib.resources import LakeResource
from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import DATA_FILE
from lbh_platform.tascomi.settings import (
    SIMULATOR_PRIVATE_KEY,
    SIMULATOR_PUBLIC_KEY,
    load_tascomi_settings,
)
from lbh_platform.tascomi.tables import load_tables
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator
from lbh_platform_tests.aws_stand_in import aws  # noqa: F401
from lbh_platform_tests.test_tascomi_pipeline import (
    api_clock,
    assert_snapshot_matches_truth,
    keys,
    run,
)

pytestmark = pytest.mark.integration
FIRST = date(2024, 3, 4)
DAYS = [FIRST + timedelta(days=n) for n in range(3)]
STAGES = ("api_response", "parsed", "increment", "snapshot")
RAW = "dataplatform-stg-tascomi-raw-zone"
REFINED = "dataplatform-stg-tascomi-refined-zone"


def production_definitions(tables, catalogue, settings) -> dg.Definitions:
    """The pipeline's assets with resources built from settings as production builds them."""
    defs = build_definitions(tables, catalogue, settings)
    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        resources={
            **defs.resources,
            "lake": LakeResource.from_settings(settings),
            "tascomi_api": tascomi_api_resource(),
            "alloy_api": alloy_api_resource(),
        },
    )


def test_tascomi_days_on_s3_register_every_table_and_partition_in_glue(
    aws,  # noqa: F811
    tmp_path,
    catalogue,
    monkeypatch,
):
    config = tmp_path / "tables.yaml"
    config.write_text(
        "tables:\n  - {name: applications, completeness_column: application_reference_number}\n"
        "  - {name: appeals}\n"
    )
    tables = load_tables(config)
    aws.client("secretsmanager").create_secret(
        Name="stg/tascomi-api",
        SecretString=json.dumps(
            {"public_key": SIMULATOR_PUBLIC_KEY, "private_key": SIMULATOR_PRIVATE_KEY}
        ),
    )
    monkeypatch.setenv("LBH_RAW_ZONE", aws.uri("raw-zone"))
    monkeypatch.setenv("LBH_REFINED_ZONE", aws.uri("refined-zone"))
    monkeypatch.setenv("LBH_GLUE_CATALOG", "true")
    monkeypatch.setenv("TASCOMI_SECRET_ID", "stg/tascomi-api")
    monkeypatch.delenv("TASCOMI_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("TASCOMI_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("LBH_DUCKDB_CATALOG", raising=False)
    simulator = TascomiSimulator(tables, catalogue, epoch=FIRST - timedelta(days=15), scale=0.5)
    monkeypatch.setenv("TASCOMI_API_URL", simulator.start())
    try:
        settings = load_settings()
        assert settings.glue_catalog and not settings.duckdb_catalog
        tascomi = load_tascomi_settings()
        assert tascomi.access.secret_id and not any(tascomi.access.keys.values())
        defs = production_definitions(tables, catalogue, settings)
        lake = Lake.from_settings(settings)
        with dg.instance_for_test() as instance:
            for day in DAYS:
                simulator.set_now(api_clock(day))
                result = run(defs, instance, keys(tables, STAGES), day.isoformat())
                assert result.success, day
                checks = [
                    e.event_specific_data
                    for e in result.all_events
                    if e.event_type_value == "ASSET_CHECK_EVALUATION"
                    # freshness and volume checks are tested in test_monitoring.py
                    and e.event_specific_data.check_name
                    not in {"freshness_check", "row_count_vs_history"}
                ]
                assert len(checks) == 2 * 8 and all(c.passed for c in checks)
                for table in tables:
                    assert_snapshot_matches_truth(lake, simulator, table.name, day)
    finally:
        simulator.stop()

    values = [d.strftime("%Y%m%d") for d in DAYS]
    glue = aws.client("glue")
    catalogued = {
        database: {t["Name"]: t for t in glue.get_tables(DatabaseName=database)["TableList"]}
        for database in (d["Name"] for d in glue.get_databases()["DatabaseList"])
    }
    assert {db: sorted(found) for db, found in catalogued.items()} == {
        RAW: ["api_response_appeals", "api_response_applications", "appeals", "applications"],
        REFINED: ["appeals", "applications", "increment_appeals", "increment_applications"],
    }
    where = {
        (RAW, "api_response_applications"): "raw-zone/planning/tascomi/api-responses/applications",
        (RAW, "appeals"): "raw-zone/planning/tascomi/parsed/appeals",
        (REFINED, "increment_appeals"): "refined-zone/planning/tascomi/increment/appeals",
        (REFINED, "applications"): "refined-zone/planning/tascomi/snapshot/applications",
    }
    for (database, name), prefix in where.items():
        table = catalogued[database][name]
        key = (
            "snapshot_date"
            if prefix.startswith("refined-zone/planning/tascomi/snapshot")
            else ("import_date")
        )
        assert table["PartitionKeys"] == [{"Name": key, "Type": "string"}]
        assert table["StorageDescriptor"]["Location"] == f"s3://{aws.bucket}/{prefix}/"
        found = glue.get_partitions(DatabaseName=database, TableName=name)["Partitions"]
        assert sorted((p["Values"][0], p["StorageDescriptor"]["Location"]) for p in found) == [
            (v, f"s3://{aws.bucket}/{prefix}/{key}={v}/") for v in values
        ]
    typed = {
        c["Name"]: c["Type"]
        for c in catalogued[REFINED]["applications"]["StorageDescriptor"]["Columns"]
    }
    assert typed["id"] == "int" and typed["last_updated"] == "timestamp"
    assert typed["snapshot_year"] == "string" and "snapshot_date" not in typed
    parsed = {
        c["Name"]: c["Type"]
        for c in catalogued[RAW]["applications"]["StorageDescriptor"]["Columns"]
    }
    assert parsed["id"] == parsed["last_updated"] == "string"  # parsed: every JSON key a string
    # One data file per partition and table, nothing half-written left behind.
    objects = [k for k in aws.object_keys() if not k.endswith("/")]
    assert len(objects) == 2 * 4 * 3
    assert all(k.endswith(f"/{DATA_FILE}") for k in objects)
