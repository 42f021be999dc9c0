"""Asset factory: one configuration entry becomes the four stages of a Tascomi table.

The assets write their own partitions through the lake (no IO manager), so the snapshot can
process a whole backfill range in one run, in date order, writing each day's partition.
"""

from datetime import date, datetime

import dagster as dg

from lbh_platform.defs.partitions import partitions_for
from lbh_platform.defs.resources import LakeResource, TascomiApiResource
from lbh_platform.storage.lake import TASCOMI_LOCATIONS
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.tables import TascomiTable

STAGES = ("api_response", "parsed", "increment", "snapshot")
OWNERS = ["team:data-platform"]
GROUP = "tascomi"

DESCRIPTIONS = {
    "api_response": (
        "Raw Tascomi `{t}` records, one row per record as JSON text plus import metadata. "
        "Partition D holds records last updated from the previous import date up to D-1 "
        "(a full load when there is no earlier import)."
    ),
    "parsed": (
        "Tascomi `{t}` with every JSON key as a nullable string column (status-200 rows only)."
    ),
    "increment": (
        "Tascomi `{t}` recast to typed columns by the column-type catalogue; values that "
        "cannot be cast are null and counted."
    ),
    "snapshot": (
        "Full Tascomi `{t}` table as of the snapshot date: the previous snapshot with every "
        "increment since applied by `{id}`. Query the newest `snapshot_date` for current data."
    ),
}


def asset_key(stage: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["tascomi", stage, table])


def _day(key: str) -> date:
    return datetime.strptime(key, "%Y-%m-%d").date()


def _result(report: stages.StageReport) -> dg.MaterializeResult:
    metadata: dict[str, object] = {"dagster/row_count": report.rows, "partition": report.partition}
    for name, value in report.metadata.items():
        if name == "path":
            metadata[name] = dg.MetadataValue.path(value)
        elif isinstance(value, (dict, list)):
            metadata[name] = dg.MetadataValue.json(value)
        else:
            metadata[name] = value
    return dg.MaterializeResult(metadata=metadata)


def _downstream_condition() -> dg.AutomationCondition:
    """Run as soon as the upstream partition lands and its blocking checks passed."""
    return (
        dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager, after blocking checks")


def build_table_assets(
    table: TascomiTable, column_types: dict[str, str]
) -> list[dg.AssetsDefinition]:
    """The four stage assets of one table."""
    partitions = partitions_for(table.cadence)
    common = dict(
        partitions_def=partitions,
        group_name=GROUP,
        owners=OWNERS,
        tags={"source": "tascomi", "cadence": table.cadence},
        pool=f"tascomi_{table.name}",
    )

    def describe(stage: str) -> str:
        return DESCRIPTIONS[stage].format(t=table.name, id=table.id_column)

    def meta(stage: str) -> dict[str, object]:
        zone, prefix, column = TASCOMI_LOCATIONS[stage]
        return {"zone": zone, "location": f"{prefix}/{table.name}/{column}=YYYYMMDD"}

    @dg.asset(
        key=asset_key("api_response", table.name),
        description=describe("api_response"),
        kinds={"python", "parquet"},
        metadata=meta("api_response"),
        **common,
    )
    def api_response(
        context: dg.AssetExecutionContext, lake: LakeResource, tascomi_api: TascomiApiResource
    ) -> dg.MaterializeResult:
        report = stages.ingest(lake.lake(), table, _day(context.partition_key), tascomi_api.fetch)
        context.log.info(f"{table.name} {report.partition}: {report.rows} records imported")
        return _result(report)

    @dg.asset(
        key=asset_key("parsed", table.name),
        description=describe("parsed"),
        deps=[api_response],
        kinds={"python", "parquet"},
        metadata=meta("parsed"),
        automation_condition=_downstream_condition(),
        **common,
    )
    def parsed(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        return _result(stages.parse(lake.lake(), table, _day(context.partition_key)))

    @dg.asset(
        key=asset_key("increment", table.name),
        description=describe("increment"),
        deps=[parsed],
        kinds={"python", "parquet"},
        metadata=meta("increment"),
        automation_condition=_downstream_condition(),
        **common,
    )
    def increment(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        report = stages.refine(lake.lake(), table, _day(context.partition_key), column_types)
        failures = report.metadata["cast_failures_total"]
        if failures:
            context.log.warning(
                f"{table.name} {report.partition}: {failures} values could not be cast and "
                f"are null: {report.metadata['cast_failures_by_column']}"
            )
        return _result(report)

    @dg.asset(
        key=asset_key("snapshot", table.name),
        description=describe("snapshot"),
        deps=[increment],
        kinds={"python", "parquet"},
        metadata=meta("snapshot"),
        automation_condition=_downstream_condition(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        **common,
    )
    def snapshot(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        """A backfill range arrives as one run; days are built in order, each on the last."""
        keys = list(context.partition_keys)
        reports = []
        for position, key in enumerate(keys, start=1):
            report = stages.snapshot(lake.lake(), table, _day(key))
            reports.append(report)
            context.log.info(
                f"{table.name} snapshot {report.partition} ({position}/{len(keys)}): "
                f"{report.rows} rows on base {report.metadata['base_snapshot_date']}"
            )
        if len(reports) == 1:
            return _result(reports[0])
        return dg.MaterializeResult(
            metadata={
                "partitions_built": len(reports),
                "rows_by_snapshot_date": dg.MetadataValue.json(
                    {r.partition: r.rows for r in reports}
                ),
                "dagster/row_count": reports[-1].rows,
            }
        )

    return [api_response, parsed, increment, snapshot]
