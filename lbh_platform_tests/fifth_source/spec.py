"""The parking source's spec: per configured table, ``api_response`` (the day's changed
records) and ``snapshot`` (the previous snapshot with the day's records upserted by id), one
check each, a daily job and schedule. No Dagster here: the builder makes all of it."""

from datetime import date

import pyarrow as pa

from lbh_platform.common.quality import RuleOutcome
from lbh_platform.common.stage_report import StageReport
from lbh_platform.erasure import Locator, TableTarget
from lbh_platform.erasure.personal import parse_personal_data
from lbh_platform.lib.spec import (
    Asset,
    Check,
    Housekeeping,
    Job,
    Schedule,
    SourceSpec,
    Step,
    StepContext,
    Unit,
)
from lbh_platform.retention import recorded_base_guard
from lbh_platform.retention.tables import SnapshotTable
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable

NAME = "parking"
API = "parking_api"
LAYOUT = {"api_response": ("raw", "import_date"), "snapshot": ("refined", "snapshot_date")}


def table_at(lake: Lake, stage: str, table: str) -> PartitionedTable:
    zone, column = LAYOUT[stage]
    return lake.table(
        zone,
        f"parking/{stage}",
        table,
        column,
        database=lake.database("parking", zone),
        catalog_table=f"parking_{table}" if stage == "snapshot" else f"parking_{table}_{stage}",
    )


def _ids_outcome(lake: Lake, stage: str, table: str, value: str) -> RuleOutcome:
    ids = table_at(lake, stage, table).read(value, columns=["id"]).column("id").to_pylist()
    missing, repeated = ids.count(None), len(ids) - len(set(ids))
    return RuleOutcome(
        missing == 0 and repeated == 0,
        f"{missing} rows without an id, {repeated} ids repeated",
        {"rows": len(ids), "missing_ids": missing, "repeated_ids": repeated},
    )


def _plain(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("import_date", "snapshot_date")}


def _unit(table: str) -> Unit:
    def fetch(ctx: StepContext, day: date) -> list[StageReport]:
        value = day.strftime("%Y%m%d")
        rows = ctx.resources[API].changed(table, day)
        schema = pa.schema([("id", pa.string()), ("name", pa.string()), ("updated", pa.string())])
        table_at(ctx.lake, "api_response", table).write(
            value, pa.Table.from_pylist(rows, schema=schema)
        )
        return [StageReport("api_response", value, len(rows))]

    def snapshot(ctx: StepContext, day: date) -> list[StageReport]:
        value = day.strftime("%Y%m%d")
        target = table_at(ctx.lake, "snapshot", table)
        base = target.latest_before(value)
        rows = {r["id"]: _plain(r) for r in target.read(base).to_pylist()} if base else {}
        changes = table_at(ctx.lake, "api_response", table)
        changes.require(value, f"parking {table}", "api_response")
        for row in changes.read(value).to_pylist():
            rows[row["id"]] = _plain(row)
        written = target.write(
            value, pa.Table.from_pylist(sorted(rows.values(), key=lambda r: r["id"]))
        )
        return [StageReport("snapshot", value, len(rows), {"base": base, "path": written.path})]

    def ids_check(stage: str, blocking: bool) -> Check:
        return Check(
            "id_unique_and_present",
            f"Every {table} {stage} row has an id, once.",
            lambda lake, v: _ids_outcome(lake, stage, table, v),
            blocking=blocking,
        )

    return Unit(
        name=table,
        path=(),
        label=table,
        pool=f"parking_{table}",
        steps=(
            Step(
                f"parking_{table}_fetch",
                (
                    Asset(
                        "api_response",
                        f"Parking `{table}` records changed on the day.",
                        f"raw zone: parking/api_response/{table}/import_date=YYYYMMDD",
                        checks=(ids_check("api_response", blocking=True),),
                        volume=True,
                    ),
                ),
                fetch,
                resources=(API,),
            ),
            Step(
                f"parking_{table}_snapshot",
                (
                    Asset(
                        "snapshot",
                        f"Every parking `{table}` record as of the day.",
                        f"refined zone: parking/snapshot/{table}/snapshot_date=YYYYMMDD",
                        checks=(ids_check("snapshot", blocking=False),),
                        personal=parse_personal_data(["name"], f"parking {table}"),
                        catalog=f"parking_{table}",
                        deps=("api_response",),
                        eager=True,
                        freshness=True,
                    ),
                ),
                snapshot,
            ),
        ),
    )


def _housekeeping(tables: list[str]) -> Housekeeping:
    """Retention of its snapshots (each is whole: no base to keep) and erasure by id."""

    def snapshots(lake: Lake) -> list[SnapshotTable]:
        return [
            SnapshotTable(
                NAME,
                t,
                table_at(lake, "snapshot", t),
                lambda t=t: table_at(lake, "api_response", t).partitions(),
                lambda: recorded_base_guard(lambda value: None),
            )
            for t in tables
        ]

    def targets(lake: Lake, table: str, path: str | None) -> list[TableTarget]:
        key = Locator.of(path or "id")
        return [
            TableTarget("api_response", table_at(lake, "api_response", table), key),
            TableTarget("snapshot", table_at(lake, "snapshot", table), key),
        ]

    return Housekeeping(NAME, tuple(tables), snapshots, targets)


def parking_source(tables: list[str], resources: dict) -> SourceSpec:
    return SourceSpec(
        name=NAME,
        group=NAME,
        units=tuple(_unit(t) for t in tables),
        jobs=(
            Job("parking_daily_fetch", "Fetch every parking table's changes.", ("api_response",)),
            Job("parking_pipeline", "Every parking stage with its checks.", ()),
        ),
        schedules=(
            Schedule("parking_daily_0600", "parking_daily_fetch", "0 6 * * *", "Daily at 06:00."),
        ),
        resources=resources,
        housekeeping=_housekeeping(tables),
    )
