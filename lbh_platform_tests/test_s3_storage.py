"""The storage layer on S3 (moto's server on loopback, over HTTP): layout, listing, atomic
publish when a run dies between writing and publishing, and no credentials in logs."""

import logging
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from lbh_platform.alloy.locations import alloy_table
from lbh_platform.settings import load_settings
from lbh_platform.storage.aws import aws_region, endpoint_url, s3_filesystem
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import DATA_FILE, TEMPORARY_PREFIX
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.aws_stand_in import SECRET_ACCESS_KEY, aws  # noqa: F401


@pytest.fixture()
def s3_lake(aws):  # noqa: F811
    return Lake({"raw": aws.uri("raw-zone"), "refined": aws.uri("refined-zone/")})


def test_region_and_endpoint_follow_the_aws_variables():
    env = {"AWS_DEFAULT_REGION": "eu-west-1"}
    assert aws_region({}) == "eu-west-2"
    assert aws_region(env) == "eu-west-1"
    assert aws_region({**env, "AWS_REGION": "us-east-1"}) == "us-east-1"
    assert endpoint_url("s3", {}) is None
    assert endpoint_url("s3", {"AWS_ENDPOINT_URL": "http://a:1"}) == "http://a:1"
    both = {"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://b:2"}
    assert endpoint_url("s3", both) == "http://b:2"


def test_write_read_and_list_partitions_on_s3(aws, s3_lake):  # noqa: F811
    table = tascomi_table(s3_lake, "parsed", "appeals")
    table.write("20240102", pa.table({"id": ["2", "3"], "import_date": ["20240102"] * 2}))
    table.write("20240101", pa.table({"id": ["1"]}))
    table.write("20240102", pa.table({"id": ["9"]}))  # a re-run replaces, never appends
    assert table.partitions() == ["20240101", "20240102"]
    assert table.exists("20240101") and not table.exists("20240103")
    assert table.read("20240102").to_pylist() == [{"id": "9", "import_date": "20240102"}]
    assert table.location("20240101") == (
        f"s3://{aws.bucket}/raw-zone/planning/tascomi/parsed/appeals/import_date=20240101"
    )
    assert table.uri == f"s3://{aws.bucket}/raw-zone/planning/tascomi/parsed/appeals"
    # The original's layout, one data file per partition and nothing else that readers see.
    data = [k for k in aws.object_keys() if not k.endswith("/")]
    assert data == [
        f"raw-zone/planning/tascomi/parsed/appeals/import_date={d}/{DATA_FILE}"
        for d in ("20240101", "20240102")
    ]
    refined = tascomi_table(s3_lake, "snapshot", "appeals")
    refined.write("20240102", pa.table({"id": ["1"]}))
    assert aws.object_keys(
        "refined-zone/planning/tascomi/snapshot/appeals/snapshot_date=20240102/"
    )[-1].endswith(DATA_FILE)
    assert refined.partitions() == ["20240102"]
    assert tascomi_table(s3_lake, "increment", "never_written").partitions() == []


def test_settings_give_an_s3_lake(aws, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LBH_RAW_ZONE", aws.uri("raw"))
    monkeypatch.setenv("LBH_REFINED_ZONE", aws.uri("refined"))
    settings = load_settings()
    assert not settings.duckdb_catalog  # DuckDB views cover local zones only
    lake = Lake.from_settings(settings)
    alloy_table(lake, "snapshot", "graffiti", "graffiti").write("20240101", pa.table({"a": [1]}))
    assert aws.object_keys("refined/env-services/alloy/snapshots/graffiti/graffiti/")[-1].endswith(
        f"snapshot_date=20240101/{DATA_FILE}"
    )


CRASH_BETWEEN_WRITE_AND_PUBLISH = textwrap.dedent(
    """
    import os, sys
    import pyarrow as pa
    from lbh_platform.storage.lake import Lake
    from lbh_platform.storage.partitioned_table import PartitionedTable
    from lbh_platform.tascomi.locations import tascomi_table

    def killed(self, temporary, final):
        os._exit(17)  # the process dies: no clean-up, no exception handlers

    PartitionedTable._publish = killed
    lake = Lake({"raw": sys.argv[1], "refined": sys.argv[1]})
    tascomi_table(lake, "increment", "appeals").write(sys.argv[2], pa.table({"id": [2, 3]}))
    """
)


def test_run_killed_between_write_and_publish_leaves_old_partition_and_no_visible_junk(
    aws,  # noqa: F811
    s3_lake,
):
    table = tascomi_table(s3_lake, "increment", "appeals")
    table.write("20240101", pa.table({"id": [1]}))
    for value in ("20240101", "20240102"):  # an existing partition and a new one
        child = subprocess.run(
            [sys.executable, "-c", CRASH_BETWEEN_WRITE_AND_PUBLISH, aws.uri("refined-zone"), value],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.returncode == 17, child.stderr
    folder = "refined-zone/planning/tascomi/increment/appeals"
    leftovers = [k for k in aws.object_keys(folder) if TEMPORARY_PREFIX in k]
    assert len(leftovers) == 2  # the dead runs' files, under hidden names
    assert all(k.rsplit("/", 1)[1].startswith("_") for k in leftovers)
    # The old partition is intact; the half-done new one does not exist for anyone.
    assert table.partitions() == ["20240101"]
    assert table.read("20240101")["id"].to_pylist() == [1]
    assert not table.exists("20240102")
    fs = s3_filesystem()
    dataset = ds.dataset(f"{aws.bucket}/{folder}", filesystem=fs, partitioning="hive")
    assert dataset.to_table()["id"].to_pylist() == [1]  # Hive-style readers skip "_" files
    # A later successful run publishes normally.
    table.write("20240102", pa.table({"id": [5]}))
    assert table.partitions() == ["20240101", "20240102"]


def test_failed_write_on_s3_cleans_up_and_keeps_old_partition(aws, s3_lake, monkeypatch):  # noqa: F811
    table = tascomi_table(s3_lake, "snapshot", "t")
    table.write("20240101", pa.table({"x": [1]}))

    def crash_mid_write(data, sink, **kwargs):
        sink.write(b"PAR1 half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr("lbh_platform.storage.partitioned_table.pq.write_table", crash_mid_write)
    with pytest.raises(RuntimeError, match="disk full"):
        table.write("20240101", pa.table({"x": [2, 3]}))
    assert table.read("20240101")["x"].to_pylist() == [1]
    keys = aws.object_keys("refined-zone/planning/tascomi/snapshot/t/")
    assert [k for k in keys if not k.endswith("/")] == [
        f"refined-zone/planning/tascomi/snapshot/t/snapshot_date=20240101/{DATA_FILE}"
    ]


def test_aws_secret_key_is_never_logged_or_in_errors(aws, s3_lake, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    table = tascomi_table(s3_lake, "parsed", "appeals")
    table.write("20240101", pa.table({"id": ["1"]}))
    table.read("20240101")
    with pytest.raises(OSError) as missing:
        table.read("20991231")
    other_bucket = tascomi_table(Lake({"raw": "s3://no-such-bucket-here/raw"}), "parsed", "appeals")
    with pytest.raises(OSError) as no_bucket:
        other_bucket.write("20240101", pa.table({"id": ["1"]}))
    for text in (caplog.text, str(missing.value), str(no_bucket.value), repr(s3_lake)):
        assert SECRET_ACCESS_KEY not in text


def test_publish_file_moves_an_engine_written_file_into_place_on_s3(aws, s3_lake):  # noqa: F811
    """The seam for engines that write their own files (Spark): same atomic publish."""
    import pyarrow.parquet as pq

    table = tascomi_table(s3_lake, "increment", "appeals")
    fs = s3_filesystem()
    staging = f"{table.base}/_tmp-spark-1/part-00000.parquet"
    for rows, notes in (([1, 2], {"lbh.cast_failures": "{}"}), ([3], None)):
        with fs.open_output_stream(staging) as sink:
            pq.write_table(pa.table({"id": rows}), sink)
        written = table.publish_file("20240101", staging, notes)
        assert written.rows == len(rows)
        assert table.read("20240101")["id"].to_pylist() == rows
    assert table.file_metadata("20240101") == {}  # the second publish replaced the first
    assert table.partitions() == ["20240101"]
    leftovers = [k for k in aws.object_keys() if TEMPORARY_PREFIX in k and not k.endswith("/")]
    assert leftovers == []  # the noted copy and the last staged file were moved into place


def test_boto3_clients_honour_service_specific_endpoints(monkeypatch):
    from lbh_platform.storage.aws import boto3_client

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_GLUE", "http://127.0.0.1:10")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    glue = boto3_client("glue")
    assert glue.meta.endpoint_url == "http://127.0.0.1:10"
    assert glue.meta.region_name == "eu-west-1"
    assert boto3_client("secretsmanager").meta.endpoint_url == "http://127.0.0.1:9"
