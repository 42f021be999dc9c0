"""What a table says about its personal data before anyone queries it: the column schema the
Dagster wiring shows, the Glue columns' comments and ``pii`` parameters, and the local
catalogue's ``<table>_masked`` views (listed and readable through the SQL command line)."""

import io

import duckdb
import pyarrow as pa
import pytest

from lbh_platform.catalog import DuckDBCatalog, GlueCatalog, PartitionRegistration
from lbh_platform.cli import sql
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure import parse_personal_data
from lbh_platform.erasure.column_schema import column_schema
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import CatalogIdentity
from lbh_platform_tests.aws_stand_in import aws  # noqa: F401

DB = "dataplatform-stg-housing-refined-zone"
MEMBER = pa.struct([("id", pa.string()), ("full_name", pa.string())])
TENURES = pa.table(
    {
        "id": ["t1", "t2"],
        "payment_reference": ["111", "222"],
        "household_members": pa.array(
            [[{"id": "p1", "full_name": "Ann Lee"}], []], pa.list_(MEMBER)
        ),
        "notes": ["fine", None],
    }
)
PERSONAL = parse_personal_data(["payment_reference", "household_members[].full_name"], "tenure")


def test_column_schema_names_types_and_personal_parts():
    shown = column_schema(TENURES.schema, PERSONAL, partition_column="snapshot_date")
    assert [(c.name, c.type, c.pii, c.description) for c in shown] == [
        ("id", "string", False, ""),
        ("payment_reference", "string", True, "personal data"),
        (
            "household_members",
            "array<struct<id:string,full_name:string>>",
            True,
            "personal data in household_members[].full_name",
        ),
        ("notes", "string", False, ""),
        ("snapshot_date", "string", False, "partition"),
    ]
    assert shown[1].tags == {"pii": ""} and shown[0].tags == {}
    assert not any(c.pii for c in column_schema(TENURES.schema))  # nothing declared
    # A type Glue cannot spell is still shown.
    odd = pa.schema([("u", pa.dense_union([pa.field("a", pa.int8())]))])
    assert column_schema(odd)[0].type.startswith("dense_union")


# --------------------------------------------------------------------------- Glue


def registration(location: str, personal=None, schema: pa.Schema = TENURES.schema):
    return PartitionRegistration(
        DB, "tenure_information", location, schema, "snapshot_date", "20240304", personal
    )


def glue_columns(client) -> dict[str, dict]:
    table = client.get_table(DatabaseName=DB, Name="tenure_information")["Table"]
    return {c["Name"]: c for c in table["StorageDescriptor"]["Columns"]}


def test_glue_columns_carry_the_personal_data_declaration(aws):  # noqa: F811
    catalog = GlueCatalog()
    location = aws.uri("refined-zone") + "/housing/tenure_information"
    catalog.register(registration(location, PERSONAL))
    columns = glue_columns(catalog.client)
    assert columns["payment_reference"]["Comment"] == "personal data"
    assert columns["payment_reference"]["Parameters"] == {"pii": "true"}
    assert columns["household_members"]["Comment"] == (
        "personal data in household_members[].full_name"
    )
    assert "Comment" not in columns["id"] and "Parameters" not in columns["id"]

    # A writer that does not know the declaration leaves the marks as they are.
    catalog.register(registration(location, None))
    assert glue_columns(catalog.client)["payment_reference"]["Parameters"] == {"pii": "true"}

    # A column no longer declared loses its mark; a column the data gains is marked.
    wider = TENURES.schema.append(pa.field("phone", pa.string()))
    declared = parse_personal_data(["phone"], "tenure")
    catalog.register(registration(location, declared, wider))
    columns = glue_columns(catalog.client)
    assert "Comment" not in columns["payment_reference"]
    assert "Parameters" not in columns["payment_reference"]
    assert columns["phone"]["Parameters"] == {"pii": "true"}
    assert list(columns) == ["id", "payment_reference", "household_members", "notes", "phone"]


# --------------------------------------------------------------------------- local catalogue


@pytest.fixture()
def local(tmp_path, zones):
    """A lake on the configured zones (which the SQL command line may read) whose tenure
    table is registered with its declaration."""
    catalog = DuckDBCatalog(tmp_path / "catalog.duckdb", lock_timeout=0.3)
    lake = Lake(
        {"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")}, catalogs=[catalog]
    )
    table = lake.table("refined", "housing", "tenure_information", "snapshot_date", database=DB)
    table.catalog = CatalogIdentity(DB, "tenure_information", PERSONAL)
    return table, catalog


def rows(path: str, statement: str) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(path, read_only=True) as connection:
        relation = connection.sql(statement)
        return relation.columns, relation.fetchall()


def test_registering_a_declared_table_makes_its_masked_view(local):
    table, catalog = local
    table.write("20240304", TENURES)
    columns, got = rows(catalog.path, f'select * from "{DB}"."tenure_information_masked"')
    assert columns == ["id", "household_members", "notes", "snapshot_date"]
    assert "Ann" not in str(got) and "111" not in str(got)
    assert ("t1", [{"id": "p1"}], "fine", "20240304") in got
    # The table itself is unchanged beside it.
    assert rows(catalog.path, f'select count(*) from "{DB}"."tenure_information"')[1] == [(2,)]


def test_the_sql_command_line_lists_and_reads_masked_views(local):
    table, catalog = local
    table.write("20240304", TENURES)
    out = io.StringIO()
    sql.interactive(catalog.path, stdin=io.StringIO(".tables\n"), out=out)
    shown = out.getvalue()
    assert "tenure_information_masked is without it" in shown
    assert "masked: no personal data" in shown
    out = io.StringIO()
    statement = (
        f'select count(*) as n, count(distinct id) as ids from "{DB}"."tenure_information_masked"'
    )
    assert sql.main(["--db", catalog.path, "--csv", statement], out=out) == 0
    assert out.getvalue() == "n,ids\n2,2\n"


def test_hash_mode_and_a_withdrawn_declaration(tmp_path):
    catalog = DuckDBCatalog(tmp_path / "catalog.duckdb", masked_mode="hash")
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    table = lake.table("refined", "housing", "tenure_information", "snapshot_date")
    table.write("20240304", TENURES)
    catalog.register(registration(table.uri, PERSONAL))
    _, got = rows(
        catalog.path,
        f'select payment_reference from "{DB}"."tenure_information_masked" order by id',
    )
    assert got[0][0] == rows(catalog.path, "select sha256('111')")[1][0][0]
    # Declared nothing any more: the masked view goes, the table stays.
    catalog.register(registration(table.uri, parse_personal_data([], "tenure")))
    names = rows(catalog.path, "select table_name from information_schema.tables")[1]
    assert names == [("tenure_information",)]


def test_removing_the_last_partition_drops_the_masked_view_too(local):
    table, catalog = local
    table.write("20240304", TENURES)
    assert table.remove_partition("20240304")
    names = rows(catalog.path, "select table_name from information_schema.tables")[1]
    assert names == []


def test_an_unknown_masked_mode_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("LBH_MASKED_VIEWS", "blur")
    with pytest.raises(ConfigurationError, match="LBH_MASKED_VIEWS='blur': use one of drop, hash"):
        DuckDBCatalog(tmp_path / "catalog.duckdb")
