"""The Glue Data Catalog kept current by the writes (moto's Glue over HTTP): names, columns,
partition keys and partitions; schema evolution; failures that say what to do."""

import socket
from datetime import datetime

import pyarrow as pa
import pytest

from lbh_platform.alloy.locations import alloy_table
from lbh_platform.catalog import CatalogError, GlueCatalog, database_name, table_name
from lbh_platform.catalog.glue import PARQUET_SERDE
from lbh_platform.catalog.hive_types import hive_columns, hive_type
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.aws_stand_in import SECRET_ACCESS_KEY, aws  # noqa: F401

RAW = "dataplatform-stg-tascomi-raw-zone"
REFINED = "dataplatform-stg-tascomi-refined-zone"


@pytest.fixture()
def glue_lake(aws):  # noqa: F811
    return Lake(
        {"raw": aws.uri("raw-zone"), "refined": aws.uri("refined-zone")},
        environment="stg",
        catalogs=[GlueCatalog()],
    )


def columns(glue, database, table):
    found = glue.get_table(DatabaseName=database, Name=table)["Table"]
    return {c["Name"]: c["Type"] for c in found["StorageDescriptor"]["Columns"]}


def partitions(glue, database, table):
    found = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
    return {p["Values"][0]: p["StorageDescriptor"]["Location"] for p in found}


def test_hive_types_cover_nested_and_typed_columns():
    assert hive_type(pa.int32()) == "int"
    assert hive_type(pa.timestamp("us")) == "timestamp"
    assert hive_type(pa.decimal128(10, 2)) == "decimal(10,2)"
    assert hive_type(pa.dictionary(pa.int8(), pa.string())) == "string"
    nested = pa.struct(
        [
            ("Name", pa.string()),
            ("tags", pa.list_(pa.int64())),
            ("m", pa.map_(pa.string(), pa.float64())),
        ]
    )
    assert hive_type(nested) == "struct<name:string,tags:array<bigint>,m:map<string,double>>"
    assert hive_type(pa.list_(pa.struct([("a", pa.bool_())]))) == "array<struct<a:boolean>>"
    schema = pa.schema([("ID", pa.int64()), ("id", pa.string()), ("x", pa.null())])
    assert hive_columns(schema) == [
        {"Name": "id", "Type": "bigint"},
        {"Name": "x", "Type": "string"},
    ]


def test_names_are_the_originals_and_valid():
    assert database_name("prod", "tascomi", "refined") == "dataplatform-prod-tascomi-refined-zone"
    assert table_name("alloy_snapshot", "Fly-Tip Jobs", "task_statuses_1") == (
        "alloy_snapshot_fly_tip_jobs_task_statuses_1"
    )
    with pytest.raises(ValueError, match="stg"):
        database_name("dev", "tascomi", "raw")


def test_every_tascomi_stage_registers_database_table_and_partition(aws, glue_lake):  # noqa: F811
    day = "20240305"
    api = pa.table({"applications": ['{"id": "1"}'], "page_number": pa.array([1], pa.int32())})
    parsed = pa.table({"id": ["1"], "last_updated": ["2024-03-04 10:00:00"]})
    typed = pa.table(
        {
            "id": pa.array([1], pa.int32()),
            "last_updated": pa.array([datetime(2024, 3, 4, 10)], pa.timestamp("us")),
            "location": pa.array([{"x": 1.5, "codes": ["a"]}]),
            "import_date": [day],  # the partition column lives in the path, not the file
        }
    )
    tascomi_table(glue_lake, "api_response", "applications").write(day, api)
    tascomi_table(glue_lake, "parsed", "applications").write(day, parsed)
    tascomi_table(glue_lake, "increment", "applications").write(day, typed)
    tascomi_table(glue_lake, "snapshot", "applications").write(
        day, typed.drop_columns(["import_date"])
    )

    glue = aws.client("glue")
    assert {d["Name"] for d in glue.get_databases()["DatabaseList"]} == {RAW, REFINED}
    assert {t["Name"] for t in glue.get_tables(DatabaseName=RAW)["TableList"]} == {
        "api_response_applications",
        "applications",
    }
    assert {t["Name"] for t in glue.get_tables(DatabaseName=REFINED)["TableList"]} == {
        "increment_applications",
        "applications",
    }
    assert columns(glue, RAW, "api_response_applications") == {
        "applications": "string",
        "page_number": "int",
    }
    assert columns(glue, REFINED, "increment_applications") == {
        "id": "int",
        "last_updated": "timestamp",
        "location": "struct<x:double,codes:array<string>>",
    }
    snapshot = glue.get_table(DatabaseName=REFINED, Name="applications")["Table"]
    assert snapshot["PartitionKeys"] == [{"Name": "snapshot_date", "Type": "string"}]
    assert snapshot["TableType"] == "EXTERNAL_TABLE"
    assert snapshot["Parameters"]["classification"] == "parquet"
    sd = snapshot["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert (
        sd["Location"] == f"s3://{aws.bucket}/refined-zone/planning/tascomi/snapshot/applications/"
    )
    assert partitions(glue, REFINED, "applications") == {
        day: f"{sd['Location']}snapshot_date={day}/"
    }
    increment = glue.get_table(DatabaseName=REFINED, Name="increment_applications")["Table"]
    assert increment["PartitionKeys"] == [{"Name": "import_date", "Type": "string"}]


def test_new_column_updates_the_table_and_old_columns_stay(aws, glue_lake):  # noqa: F811
    glue = aws.client("glue")
    table = tascomi_table(glue_lake, "parsed", "appeals")
    table.write("20240101", pa.table({"id": ["1"], "name": ["a"]}))
    table.write("20240102", pa.table({"id": ["2"], "name": ["b"], "ward": ["x"]}))
    assert list(columns(glue, RAW, "appeals")) == ["id", "name", "ward"]
    versions = len(glue.get_table_versions(DatabaseName=RAW, TableName="appeals")["TableVersions"])
    assert versions == 2  # created, then updated once for `ward`
    # A partition without `ward` and one with the same columns change nothing.
    table.write("20240103", pa.table({"id": ["3"], "name": ["c"]}))
    table.write("20240104", pa.table({"id": ["4"], "name": ["d"], "ward": ["y"]}))
    assert list(columns(glue, RAW, "appeals")) == ["id", "name", "ward"]
    after = len(glue.get_table_versions(DatabaseName=RAW, TableName="appeals")["TableVersions"])
    assert after == versions
    # Re-running a partition updates it in place (the partition's own columns).
    table.write("20240101", pa.table({"id": ["1"], "name": ["a"], "ward": ["z"]}))
    found = glue.get_partition(DatabaseName=RAW, TableName="appeals", PartitionValues=["20240101"])
    assert [c["Name"] for c in found["Partition"]["StorageDescriptor"]["Columns"]] == [
        "id",
        "name",
        "ward",
    ]
    assert sorted(partitions(glue, RAW, "appeals")) == [f"2024010{d}" for d in range(1, 5)]


def test_alloy_and_other_pipelines_register_under_their_own_databases(aws):  # noqa: F811
    lake = Lake(
        {"raw": aws.uri("raw"), "refined": aws.uri("refined")},
        environment="prod",
        catalogs=[GlueCatalog()],
    )
    frame = pa.table({"item_id": ["a"]})
    alloy_table(lake, "api_response", "graffiti", "task_statuses_1").write("20240101", frame)
    alloy_table(lake, "snapshot", "graffiti", "graffiti").write("20240101", frame)
    housing = lake.database("housing", "refined")
    lake.table("refined", "housing/tenure", "tenure-state", "import_date", database=housing).write(
        "20240101", frame
    )
    lake.table("refined", "scratch", "unregistered", "import_date").write("20240101", frame)
    glue = aws.client("glue")
    names = {
        d["Name"]: {t["Name"] for t in glue.get_tables(DatabaseName=d["Name"])["TableList"]}
        for d in glue.get_databases()["DatabaseList"]
    }
    assert names == {
        "dataplatform-prod-env-services-raw-zone": {"alloy_api_response_graffiti_task_statuses_1"},
        "dataplatform-prod-env-services-refined-zone": {"alloy_snapshot_graffiti_graffiti"},
        "dataplatform-prod-housing-refined-zone": {"tenure_state"},
    }


def test_glue_failure_names_the_partition_and_no_credentials(aws):  # noqa: F811
    import boto3
    from botocore.config import Config

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    client = boto3.client(
        "glue",
        region_name="eu-west-2",
        endpoint_url=dead,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1),
    )
    lake = Lake(
        {"raw": aws.uri("raw"), "refined": aws.uri("refined")}, catalogs=[GlueCatalog(client)]
    )
    table = tascomi_table(lake, "parsed", "appeals")
    with pytest.raises(CatalogError) as failure:
        table.write("20240101", pa.table({"id": ["1"]}))
    message = str(failure.value)
    assert f"{RAW}.appeals partition import_date=20240101" in message
    assert "re-run the partition" in message
    assert SECRET_ACCESS_KEY not in message and SECRET_ACCESS_KEY not in repr(failure.value)
    assert table.read("20240101")["id"].to_pylist() == ["1"]  # the data itself is published
