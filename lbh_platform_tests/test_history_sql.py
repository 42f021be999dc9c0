"""The local SQL catalogue answers "as of D" from a history exactly as snapshot D, for every day
(``history_<t>_as_of``), and lists every version with its exact validity
(``history_<t>_versions``), over the segments as stored, compactions and all."""

import duckdb
import pyarrow as pa
import pytest

from lbh_platform.catalog import history_sql
from lbh_platform.catalog.base import PartitionRegistration
from lbh_platform.catalog.duckdb_catalog import DuckDBCatalog
from lbh_platform.common.import_columns import SNAPSHOT_COLUMNS
from lbh_platform.history import arrow_files, maintain
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.history import history_source as tascomi_source
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.test_history_tascomi import SMALL, TABLE, canonical, run_days

DATABASE = "dataplatform-stg-tascomi-refined-zone"


def as_of_sql(path: str, day: str) -> pa.Table:
    with duckdb.connect(path, read_only=True) as connection:
        return connection.sql(
            f'select * from "{DATABASE}"."history_contacts_as_of"(?)', params=[day]
        ).to_arrow_table()


@pytest.fixture()
def catalogued(tmp_path, monkeypatch):
    monkeypatch.setattr(arrow_files, "ROW_GROUP_VALUES", 60)
    monkeypatch.setattr(arrow_files, "MIN_GROUP_ROWS", 4)
    path = str(tmp_path / "catalog.duckdb")
    lake = Lake(
        {"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")},
        catalogs=[DuckDBCatalog(path)],
    )
    return lake, path


def test_sql_as_of_is_every_days_snapshot_and_versions_are_exact(catalogued):
    lake, path = catalogued
    source = tascomi_source(lake, TABLE.name)
    built = run_days(lake, days=14, on_snapshot=lambda d: maintain.update(source, d, policy=SMALL))
    # The catalogue made the history's SQL forms as it registered its segments.
    snapshots = tascomi_table(lake, "snapshot", TABLE.name)
    for day in built:
        expected = snapshots.read(day)
        expected = expected.drop_columns(list(SNAPSHOT_COLUMNS))
        got = as_of_sql(path, day)
        assert canonical(got.select(expected.column_names)) == canonical(expected), day
        dashed = f"{day[:4]}-{day[4:6]}-{day[6:]}"
        assert as_of_sql(path, dashed).num_rows == expected.num_rows
    with duckdb.connect(path, read_only=True) as connection:
        versions = connection.sql(
            f'select * from "{DATABASE}"."history_contacts_versions"'
        ).to_arrow_table()
    exact = maintain.versions(source.history)
    assert canonical(versions.select(exact.column_names)) == canonical(exact)


def test_a_table_that_is_not_a_history_gets_no_history_forms(catalogued):
    lake, path = catalogued
    run_days(lake, days=1)
    snapshots = tascomi_table(lake, "snapshot", TABLE.name)
    r = PartitionRegistration(DATABASE, "contacts", snapshots.uri, pa.schema([]), "snapshot_date",
                              snapshots.partitions()[0])  # fmt: skip
    with duckdb.connect(path) as connection:
        assert not history_sql.create(connection, r)
