"""Personal-data declarations and the masked views built from them: the DuckDB view an
analyst queries (no personal column, no personal nested field, or each hashed) and the
Athena SQL the docs give."""

import duckdb
import pyarrow as pa
import pytest

from lbh_platform.catalog.duckdb_catalog import DuckDBCatalog
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure import (
    column_facts,
    create_masked_view,
    masked_view_sql,
    parse_personal_data,
    parse_personal_tables,
)
from lbh_platform.storage.lake import Lake

DB = "dataplatform-stg-housing-refined-zone"
MEMBER = pa.struct([("id", pa.string()), ("full_name", pa.string()), ("dob", pa.date32())])
TENURES = pa.table(
    {
        "id": ["t1", "t2"],
        "payment_reference": ["111", "222"],
        "household_members": pa.array(
            [[{"id": "p1", "full_name": "Ann Lee", "dob": None}], []], pa.list_(MEMBER)
        ),
        "tenured_asset": pa.array(
            [{"uprn": "1", "full_address": "1 Mare Street"}, None],
            pa.struct([("uprn", pa.string()), ("full_address", pa.string())]),
        ),
    }
)
PERSONAL = parse_personal_data(
    [
        "payment_reference",
        "household_members[].full_name",
        "household_members[].dob",
        "tenured_asset.full_address",
    ],
    "tenure",
)


@pytest.fixture()
def catalogue(tmp_path) -> str:
    path = str(tmp_path / "catalog.duckdb")
    lake = Lake(
        {"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")},
        catalogs=[DuckDBCatalog(path)],
    )
    lake.table("refined", "housing", "tenures", "snapshot_date", database=DB).write(
        "20240304", TENURES
    )
    return path


def rows(path: str, sql: str) -> list[tuple]:
    with duckdb.connect(path, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_the_masked_view_has_no_personal_column_or_field(catalogue):
    name = create_masked_view(
        catalogue, DB, "tenures", TENURES.schema, PERSONAL, passthrough=["snapshot_date"]
    )
    assert name == f"{DB}.tenures_masked"
    with duckdb.connect(catalogue, read_only=True) as connection:
        relation = connection.sql(f'select * from "{DB}"."tenures_masked" order by id')
        columns = relation.columns
        got = relation.fetchall()
    assert columns == ["id", "household_members", "tenured_asset", "snapshot_date"]
    assert got == [
        ("t1", [{"id": "p1"}], {"uprn": "1"}, "20240304"),
        ("t2", [], None, "20240304"),
    ]
    text = str(got)
    assert "Ann" not in text and "Mare" not in text and "111" not in text


def test_the_hashed_view_keeps_counts_and_hides_values(catalogue):
    create_masked_view(catalogue, DB, "tenures", TENURES.schema, PERSONAL, mode="hash")
    got = rows(
        catalogue,
        f'select payment_reference, household_members from "{DB}"."tenures_masked" order by id',
    )
    assert got[0][0] == rows(catalogue, "select sha256('111')")[0][0]
    member = got[0][1][0]
    assert (
        member["id"] == "p1"
        and member["full_name"] == rows(catalogue, "select sha256('Ann Lee')")[0][0]
    )
    assert member["dob"] is None  # a null stays null


def test_the_athena_sql_masks_the_same_fields():
    sql = masked_view_sql(DB, "tenures", TENURES.schema, PERSONAL, dialect="athena")
    assert sql.startswith(f'CREATE OR REPLACE VIEW "{DB}"."tenures_masked" AS')
    assert "payment_reference" not in sql and "full_name" not in sql and "full_address" not in sql
    assert (
        'transform("household_members", x0 -> CASE WHEN x0 IS NULL THEN NULL ELSE '
        'CAST(ROW(x0."id") AS row("id" varchar)) END)'
    ) in sql
    hashed = masked_view_sql(DB, "tenures", TENURES.schema, PERSONAL, "hash", "athena")
    assert (
        'to_hex(sha256(to_utf8(CAST("payment_reference" AS varchar)))) AS "payment_reference"'
        in hashed
    )


def test_declarations_are_checked_against_the_table():
    PERSONAL.check(TENURES.schema, "tenure snapshot")
    with pytest.raises(ConfigurationError, match="no field 'email'"):
        parse_personal_data(["household_members[].email"], "t").check(TENURES.schema, "t")
    with pytest.raises(ConfigurationError, match="not a list"):
        parse_personal_data(["tenured_asset[].uprn"], "t").check(TENURES.schema, "t")
    with pytest.raises(ConfigurationError, match="twice"):
        parse_personal_data(["id", "id"], "t")
    with pytest.raises(ConfigurationError, match="must be a list"):
        parse_personal_data("id", "t")
    assert parse_personal_tables({"graffiti": ["reporter"]}, "alloy graffiti")["graffiti"]


def test_column_facts_flag_personal_columns_for_the_ui_and_glue():
    facts = {f.name: f for f in column_facts(TENURES.schema, PERSONAL)}
    assert facts["payment_reference"].pii and facts["payment_reference"].comment == "personal data"
    assert not facts["id"].pii and facts["id"].comment == ""
    assert facts["household_members"].personal_fields == (
        "household_members[].full_name",
        "household_members[].dob",
    )
    assert facts["household_members"].type.startswith("array<struct<id:string")
