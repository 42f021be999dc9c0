"""The local SQL catalogue: the playbook's query runs unchanged on the local lake, temporary
files stay invisible, a locked catalogue never fails a write, and the SQL command line."""

import io
import logging
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lbh_platform.alloy.locations import alloy_table
from lbh_platform.catalog import DuckDBCatalog, PartitionRegistration
from lbh_platform.cli import sql
from lbh_platform.lib.resources import LakeResource
from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table

PLAYBOOK = (
    'select * from "dataplatform-stg-tascomi-refined-zone"."applications" where snapshot_date = '
    '(select max(snapshot_date) from "dataplatform-stg-tascomi-refined-zone"."applications")'
)


@pytest.fixture()
def local_lake(tmp_path, zones):
    """A lake on the configured zones, which the SQL command line may read (and no more)."""
    catalog = DuckDBCatalog(tmp_path / "catalog.duckdb", lock_timeout=0.3)
    lake = Lake(
        {"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")}, catalogs=[catalog]
    )
    return lake, catalog


def query(path, statement):
    with sql.connect(str(path)) as connection:
        return connection.sql(statement).to_arrow_table()


def test_playbook_query_runs_unchanged_and_sees_new_columns(local_lake):
    lake, catalog = local_lake
    snapshots = tascomi_table(lake, "snapshot", "applications")
    snapshots.write("20240101", pa.table({"id": pa.array([1, 2], pa.int32())}))
    day_two = pa.table({"id": pa.array([1, 2, 3], pa.int32()), "ward": ["a", None, "c"]})
    snapshots.write("20240102", day_two)
    # A dead run's temporary file, alone and next to a published partition: never read.
    Path(snapshots.partition_dir("20240103")).mkdir()
    for value in ("20240102", "20240103"):
        path = f"{snapshots.partition_dir(value)}/_tmp-dead.parquet"
        pq.write_table(pa.table({"id": pa.array([99], pa.int32())}), path)
    result = query(catalog.path, PLAYBOOK)
    assert result.column_names == ["id", "ward", "snapshot_date"]
    assert result.schema.field("snapshot_date").type == pa.string()
    assert sorted(result["id"].to_pylist()) == [1, 2, 3]
    assert set(result["snapshot_date"].to_pylist()) == {"20240102"}
    counts = query(
        catalog.path,
        'select snapshot_date, count(*) as n from "dataplatform-stg-tascomi-refined-zone".'
        '"applications" group by all order by all',
    ).to_pylist()
    assert counts == [{"snapshot_date": "20240101", "n": 2}, {"snapshot_date": "20240102", "n": 3}]


def test_every_stage_has_its_glue_name(local_lake):
    lake, catalog = local_lake
    for stage in ("api_response", "parsed", "increment", "snapshot"):
        tascomi_table(lake, stage, "appeals").write("20240101", pa.table({"id": ["1"]}))
    alloy_table(lake, "snapshot", "graffiti", "teams_3").write("20240101", pa.table({"id": ["1"]}))
    tables = query(catalog.path, sql.TABLES_SQL).to_pylist()
    assert [(t["database"], t["table"]) for t in tables] == [
        ("dataplatform-stg-env-services-refined-zone", "alloy_snapshot_graffiti_teams_3"),
        ("dataplatform-stg-tascomi-raw-zone", "api_response_appeals"),
        ("dataplatform-stg-tascomi-raw-zone", "appeals"),
        ("dataplatform-stg-tascomi-refined-zone", "appeals"),
        ("dataplatform-stg-tascomi-refined-zone", "increment_appeals"),
    ]


HOLD_THE_FILE = (
    "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
    "print('holding', flush=True); sys.stdin.read()"
)


def test_a_session_holding_the_catalogue_never_fails_a_write(local_lake, caplog):
    lake, catalog = local_lake
    table = tascomi_table(lake, "snapshot", "applications")
    table.write("20240101", pa.table({"id": [1]}))
    analyst = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_FILE, catalog.path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert analyst.stdout.readline().strip() == "holding"
        with caplog.at_level(logging.WARNING, logger="lbh_platform.catalog.duckdb_catalog"):
            table.write("20240102", pa.table({"id": [1, 2], "ward": ["a", "b"]}))
        assert "locked by another session" in caplog.text
        assert "dataplatform-stg-tascomi-refined-zone.applications not refreshed" in caplog.text
        assert table.partitions() == ["20240101", "20240102"]  # the data is published anyway
    finally:
        analyst.communicate("", timeout=30)
    # The next write registers again, with the new schema.
    table.write("20240103", pa.table({"id": [1, 2, 3], "ward": ["a", "b", "c"]}))
    assert "ward" in query(catalog.path, PLAYBOOK).column_names


def test_s3_locations_are_left_to_glue(tmp_path):
    catalog = DuckDBCatalog(tmp_path / "catalog.duckdb")
    registration = PartitionRegistration(
        "dataplatform-stg-tascomi-raw-zone",
        "appeals",
        "s3://bucket/raw/planning/tascomi/parsed/appeals",
        pa.schema([("id", pa.string())]),
        "import_date",
        "20240101",
    )
    catalog.register(registration)
    assert not (tmp_path / "catalog.duckdb").exists()


def test_sql_command_line_one_query_csv_and_interactive(local_lake, capsys):
    lake, catalog = local_lake
    tascomi_table(lake, "snapshot", "applications").write("20240101", pa.table({"id": [7]}))
    out = io.StringIO()
    assert sql.main(["--db", catalog.path, "--csv", PLAYBOOK], out=out) == 0
    assert out.getvalue() == "id,snapshot_date\n7,20240101\n"
    out = io.StringIO()
    assert sql.main(["--db", catalog.path, "select 41 + 1 as answer"], out=out) == 0
    assert "answer" in out.getvalue() and "42" in out.getvalue()
    session = io.StringIO(
        f".tables\nselect count(*) as n_rows\n  from ({PLAYBOOK});\nselect nope;\n"
    )
    out = io.StringIO()
    sql.interactive(catalog.path, stdin=session, out=out)
    shown = out.getvalue()
    assert "dataplatform-stg-tascomi-refined-zone" in shown and "applications" in shown
    assert "n_rows" in shown
    assert "error: Binder Error" in shown
    assert sql.main(["--db", str(catalog.path) + ".missing", "select 1"]) == 1
    assert "no local catalogue" in capsys.readouterr().err


def test_settings_put_the_catalogue_next_to_local_zones(tmp_path, monkeypatch):
    monkeypatch.setenv("LBH_RAW_ZONE", str(tmp_path / "lake" / "raw"))
    monkeypatch.setenv("LBH_REFINED_ZONE", str(tmp_path / "lake" / "refined"))
    monkeypatch.delenv("LBH_DUCKDB_PATH", raising=False)
    settings = load_settings()
    assert settings.duckdb_catalog and not settings.glue_catalog
    assert settings.duckdb_path == str(tmp_path / "lake" / "catalog.duckdb")
    monkeypatch.setenv("LBH_DUCKDB_PATH", str(tmp_path / "elsewhere.duckdb"))
    monkeypatch.setenv("LBH_DUCKDB_CATALOG", "false")
    monkeypatch.setenv("LBH_GLUE_CATALOG", "yes")
    settings = load_settings()
    assert settings.duckdb_path == str(tmp_path / "elsewhere.duckdb")
    assert not settings.duckdb_catalog and settings.glue_catalog
    assert [type(c).__name__ for c in LakeResource.from_settings(settings).lake().catalogs] == [
        "GlueCatalog"
    ]
    monkeypatch.setenv("LBH_GLUE_CATALOG", "maybe")
    with pytest.raises(ValueError, match="LBH_GLUE_CATALOG must be true or false"):
        load_settings()


def test_local_pipeline_days_answer_the_playbook_query(tmp_path, zones, catalogue, monkeypatch):
    """Two days of the Tascomi pipeline in Dagster on local zones; the catalogue follows."""
    import dagster as dg

    from lbh_platform.definitions import build_definitions
    from lbh_platform.tascomi.tables import load_tables
    from lbh_platform_devkit.tascomi.simulator import TascomiSimulator
    from lbh_platform_tests.test_tascomi_pipeline import api_clock, keys, run

    config = tmp_path / "tables.yaml"
    config.write_text("tables:\n  - {name: applications}\n")
    tables = load_tables(config)
    first = date(2024, 3, 4)
    with TascomiSimulator(tables, catalogue, epoch=first - timedelta(days=10)) as simulator:
        monkeypatch.setenv("TASCOMI_API_URL", simulator.base_url)
        monkeypatch.setenv("TASCOMI_PUBLIC_KEY", "sim-public-key")
        monkeypatch.setenv("TASCOMI_PRIVATE_KEY", "sim-private-key")
        settings = load_settings()
        defs = build_definitions(tables, catalogue, settings)
        defs = dg.Definitions(
            assets=defs.assets,
            asset_checks=defs.asset_checks,
            resources={**defs.resources, "lake": LakeResource.from_settings(settings)},
        )
        stages = ("api_response", "parsed", "increment", "snapshot")
        with dg.instance_for_test() as instance:
            for day in (first, first + timedelta(days=1)):
                simulator.set_now(api_clock(day))
                assert run(defs, instance, keys(tables, stages), day.isoformat()).success
    lake = Lake.from_settings(settings)
    expected = tascomi_table(lake, "snapshot", "applications").read("20240305")
    got = query(settings.duckdb_path, PLAYBOOK)
    assert got.num_rows == expected.num_rows > 0
    assert sorted(got["id"].to_pylist()) == sorted(expected["id"].to_pylist())
    assert got.schema.field("last_updated").type == pa.timestamp("us")
    with duckdb.connect(settings.duckdb_path, read_only=True) as connection:
        increments = connection.sql(
            'select import_date, count(*) from "dataplatform-stg-tascomi-refined-zone".'
            '"increment_applications" group by all order by all'
        ).fetchall()
    assert [d for d, _ in increments] == ["20240304", "20240305"]


def _published(lake, tmp_path):
    table = tascomi_table(lake, "snapshot", "applications")
    table.write("20240101", pa.table({"id": [7]}))
    part = Path(table.partition_dir("20240101")) / "part-0.parquet"
    return part, part.read_bytes()


REFUSED = {
    "copy_to_a_file": "copy (select 42) to '{outside}'",
    "copy_over_a_partition": "copy (select 42 as id) to '{part}' (format parquet)",
    "attach": "attach '{outside}' as other",
    "install": "install httpfs",
    "load": "load httpfs",
    "set": "set enable_external_access = true",
    "pragma": "pragma enable_profiling",
    "create": "create table t as select 1",
    "write_hidden_in_the_second_statement": "select 1 as first; copy (select 42) to '{outside}'",
    "explain_analyze_runs_a_copy": "explain analyze copy (select 42) to '{outside}'",
}


@pytest.mark.parametrize("statement", REFUSED.values(), ids=REFUSED.keys())
def test_sql_command_line_refuses_every_statement_that_does_more_than_read(
    local_lake, tmp_path, capsys, statement
):
    lake, catalog = local_lake
    part, before = _published(lake, tmp_path)
    outside = tmp_path / "outside.csv"
    out = io.StringIO()
    code = sql.main(["--db", catalog.path, statement.format(outside=outside, part=part)], out=out)
    error = capsys.readouterr().err
    assert code == 1
    assert "refused" in error and "read-only" in error and "Nothing was run" in error
    assert out.getvalue() == ""  # not even the harmless first statement ran
    assert not outside.exists() and part.read_bytes() == before


@pytest.mark.parametrize(
    "statement",
    [
        "select content from read_text('/etc/passwd')",
        "select * from read_csv('/etc/passwd')",
        "select * from glob('/etc/*')",
        "select * from read_blob('{outside}')",
    ],
)
def test_sql_reads_no_file_outside_the_zones(local_lake, tmp_path, capsys, statement):
    lake, catalog = local_lake
    _published(lake, tmp_path)
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key = not-for-analysts\n")
    out = io.StringIO()
    assert sql.main(["--db", catalog.path, statement.format(outside=secret)], out=out) == 1
    error = capsys.readouterr().err
    assert "Permission Error" in error and "disabled by configuration" in error
    assert "not-for-analysts" not in out.getvalue() + error


def test_a_python_session_is_locked_down_too(local_lake, tmp_path):
    lake, catalog = local_lake
    _published(lake, tmp_path)
    with sql.connect(catalog.path) as connection:
        with pytest.raises(duckdb.PermissionException):
            connection.sql(f"copy (select 1) to '{tmp_path / 'x.csv'}'")
        with pytest.raises(duckdb.InvalidInputException, match="locked"):
            connection.sql("set enable_external_access = true")
        with pytest.raises(duckdb.Error):
            connection.sql("select * from read_text('/etc/hostname')").fetchall()
        assert connection.sql(PLAYBOOK).fetchall() == [(7, "20240101")]
    assert not (tmp_path / "x.csv").exists()


def test_the_playbook_and_every_reading_statement_still_run(local_lake, tmp_path):
    lake, catalog = local_lake
    _published(lake, tmp_path)
    table = '"dataplatform-stg-tascomi-refined-zone"."applications"'
    for statement, expected in [
        (PLAYBOOK, "7,20240101"),
        (f"with s as ({PLAYBOOK}) select count(*) as n from s", "1"),
        (f"describe {table}", "snapshot_date"),
        (f"summarize {table}", "snapshot_date"),
        ("show all tables", "applications"),
        (f"from {table} select id", "7"),
        (f"explain {PLAYBOOK}", "physical_plan"),
        (f"explain analyze {PLAYBOOK}", "analyzed_plan"),
        (f"/* a comment */ select max(snapshot_date) as d from {table}; select 2 as two", "2"),
    ]:
        out = io.StringIO()
        assert sql.main(["--db", catalog.path, "--csv", statement], out=out) == 0, statement
        assert expected in out.getvalue(), (statement, out.getvalue())
    assert sql.reading_statements("select 1; select 2") == ["select 1;", " select 2"]


def test_the_interactive_session_refuses_writes_and_carries_on(local_lake, tmp_path):
    lake, catalog = local_lake
    _published(lake, tmp_path)
    outside = tmp_path / "out.csv"
    session = io.StringIO(
        f"copy (select 1) to '{outside}';\n.describe x; drop view y\nselect 41 + 1 as answer;\n"
    )
    out = io.StringIO()
    sql.interactive(catalog.path, stdin=session, out=out)
    shown = out.getvalue()
    assert shown.count("error: refused") == 2 and "COPY" in shown and "DROP" in shown
    assert "42" in shown and not outside.exists()


def test_allowed_directories_are_the_zones_only(local_lake, tmp_path, monkeypatch):
    lake, catalog = local_lake
    _published(lake, tmp_path)
    monkeypatch.setenv("LBH_RAW_ZONE", "s3://dataplatform-stg-raw-zone/planning")
    monkeypatch.setenv("LBH_REFINED_ZONE", str(tmp_path / "elsewhere"))
    # The catalogue's view reads tmp_path/refined/...: not a reason to allow it.
    assert sql.allowed_directories() == sorted(
        ["s3://dataplatform-stg-raw-zone/planning/", f"{tmp_path}/elsewhere/"]
    )
