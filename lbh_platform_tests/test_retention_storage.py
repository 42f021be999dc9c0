"""Retention applied: expired snapshots removed from the zone (local disk and S3), the Glue
catalogue and the local DuckDB catalogue; idempotent; never the newest; the snapshots left
still proven sound and the next day's snapshot still built."""

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from lbh_platform.catalog import DuckDBCatalog, GlueCatalog
from lbh_platform.catalog.base import PartitionRemoval
from lbh_platform.common.errors import DataError
from lbh_platform.erasure import AuditLog
from lbh_platform.retention import (
    RetentionPolicy,
    apply_retention,
    lineage_guard,
    missing_snapshots,
    plan_retention,
    removed_partitions,
)
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.aws_stand_in import aws  # noqa: F401
from lbh_platform_tests.test_faults_snapshot_inputs import TABLE, TYPES, Api

FIRST = date(2024, 1, 29)
DAYS = [FIRST + timedelta(days=n) for n in range(8)]  # 29 Jan .. 5 Feb
TODAY = date(2024, 2, 6)
POLICY = RetentionPolicy(daily_days=3)  # keeps 4, 5 Feb, and 31 Jan (a month-end)
DB = "dataplatform-stg-tascomi-refined-zone"


def value(day: date) -> str:
    return day.strftime("%Y%m%d")


def run_days(lake: Lake, api: Api, days: list[date]) -> None:
    for n, day in enumerate(days):
        api.edit(n + 1, day, name=f"v-{n}")
        stages.ingest(lake, TABLE, day, api.fetch)
        stages.parse(lake, TABLE, day)
        stages.refine(lake, TABLE, day, TYPES)
        stages.snapshot(lake, TABLE, day)


def plan_for(lake: Lake):
    snapshots = tascomi_table(lake, "snapshot", TABLE.name)
    increments = tascomi_table(lake, "increment", TABLE.name).partitions()
    return plan_retention(
        snapshots.partitions(),
        POLICY,
        TODAY,
        building=missing_snapshots(increments, snapshots.partitions()),
        guard=lineage_guard(stages.snapshot_inputs(lake, TABLE.name)),
    )


@pytest.fixture()
def local(tmp_path) -> tuple[Lake, str]:
    path = str(tmp_path / "catalog.duckdb")
    lake = Lake(
        {"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")},
        catalogs=[DuckDBCatalog(path)],
    )
    return lake, path


def catalogued(path: str) -> list[str]:
    with duckdb.connect(path, read_only=True) as connection:
        sql = f'select distinct snapshot_date from "{DB}"."contacts" order by 1'
        return [r[0] for r in connection.execute(sql).fetchall()]


def test_expired_snapshots_leave_the_zone_and_the_local_catalogue(local):
    lake, path = local
    api = Api()
    run_days(lake, api, DAYS)
    snapshots = tascomi_table(lake, "snapshot", TABLE.name)
    plan = plan_for(lake)
    assert plan.keep == ["20240131", "20240204", "20240205"]
    assert plan.reason("20240131") == "month-end snapshot of 2024-01"
    audit = AuditLog.of(lake)
    result = apply_retention(snapshots, plan, name="tascomi/contacts", who="ops", audit=audit)
    assert result.removed == plan.delete
    assert snapshots.partitions() == plan.keep
    assert catalogued(path) == plan.keep
    folders = sorted(p.name for p in Path(snapshots.base).iterdir())
    assert folders == [f"snapshot_date={v}" for v in plan.keep]
    # Imports are kept; every snapshot left is still proven sound.
    assert len(tascomi_table(lake, "increment", TABLE.name).partitions()) == len(DAYS)
    for kept in plan.keep:
        outcome = stages.inputs_outcome(lake, TABLE, kept)
        assert outcome.passed, outcome.description
    # The next day's snapshot builds on the newest, as before.
    run_days(lake, api, [TODAY])
    assert stages.inputs_outcome(lake, TABLE, value(TODAY)).passed
    assert removed_partitions(audit, "tascomi/contacts") == set(plan.delete)
    # Idempotent: planning again deletes nothing more; applying the old plan again is a no-op.
    assert plan_for(lake).delete == []
    again = apply_retention(snapshots, plan, name="tascomi/contacts", who="ops", audit=audit)
    assert again.removed == [] and again.already_gone == plan.delete


def test_the_base_of_a_snapshot_still_to_be_built_is_kept(local):
    lake, _ = local
    api = Api()
    run_days(lake, api, DAYS[:3])
    # Day 1 Feb is imported but its snapshot is not built yet; later days are.
    day = DAYS[3]
    api.edit(50, day, name="late")
    stages.ingest(lake, TABLE, day, api.fetch)
    stages.parse(lake, TABLE, day)
    stages.refine(lake, TABLE, day, TYPES)
    plan = plan_for(lake)
    assert plan.reason("20240131") in (
        "the base of snapshot 20240201, still to be built",
        "the newest snapshot (the next one is built on it)",
    )
    assert "20240131" in plan.keep


def test_a_stale_plan_never_removes_the_newest_snapshot(local):
    lake, _ = local
    run_days(lake, Api(), DAYS)
    snapshots = tascomi_table(lake, "snapshot", TABLE.name)
    plan = plan_retention(
        snapshots.partitions(), RetentionPolicy(daily_days=1, month_ends=False), TODAY
    )
    snapshots.remove_partition(value(DAYS[-1]))  # the listing changed since the plan
    with pytest.raises(DataError, match="now the newest snapshot"):
        apply_retention(snapshots, plan, name="tascomi/contacts", who="ops")
    assert value(DAYS[-2]) in snapshots.partitions()


def test_the_local_view_goes_with_the_last_partition(local):
    lake, path = local
    table = lake.table("refined", "x", "things", "snapshot_date", database=DB)
    table.write("20240101", pa.table({"id": [1]}))
    table.write("20240102", pa.table({"id": [2]}))
    table.remove_partition("20240101")
    with duckdb.connect(path, read_only=True) as connection:
        assert connection.execute(f'select id from "{DB}"."things"').fetchall() == [(2,)]
    table.remove_partition("20240102")
    with duckdb.connect(path, read_only=True) as connection:
        tables = connection.execute("select table_name from information_schema.tables").fetchall()
    assert ("things",) not in tables
    table.write("20240103", pa.table({"id": [3]}))  # registered afresh
    with duckdb.connect(path, read_only=True) as connection:
        assert connection.execute(f'select id from "{DB}"."things"').fetchall() == [(3,)]


def test_retention_on_s3_removes_objects_and_glue_partitions(aws):  # noqa: F811
    lake = Lake(
        {"raw": aws.uri("raw-zone"), "refined": aws.uri("refined-zone")},
        catalogs=[GlueCatalog()],
    )
    snapshots = tascomi_table(lake, "snapshot", "applications")
    values = [value(d) for d in DAYS]
    for n, v in enumerate(values):
        snapshots.write(v, pa.table({"id": [n]}))
    glue = aws.client("glue")

    def registered() -> list[str]:
        found = glue.get_partitions(DatabaseName=DB, TableName="applications")["Partitions"]
        return sorted(p["Values"][0] for p in found)

    assert registered() == values
    plan = plan_retention(values, POLICY, TODAY)
    audit = AuditLog.of(lake)
    apply_retention(snapshots, plan, name="tascomi/applications", who="ops", audit=audit)
    assert snapshots.partitions() == plan.keep == registered()
    keys = aws.object_keys("refined-zone/planning/tascomi/snapshot/applications/")
    data = [k for k in keys if not k.endswith("/")]  # S3 folder markers are not data
    assert sorted(k.split("/")[-2] for k in data) == [f"snapshot_date={v}" for v in plan.keep]
    assert not any(f"snapshot_date={v}" in k for k in keys for v in plan.delete)
    assert removed_partitions(audit, "tascomi/applications") == set(plan.delete)
    # Removing again (a run stopped half-way, re-run) is harmless everywhere.
    assert snapshots.remove_partition(plan.delete[0]) is False
    GlueCatalog().unregister(
        PartitionRemoval("no-such-db", "no-such-table", "s3://x/y", "snapshot_date", "1")
    )
    assert registered() == plan.keep
