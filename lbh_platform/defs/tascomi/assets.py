"""Asset factory: one configuration entry becomes the four stages of a Tascomi table.

The assets write their own partitions through the lake (no IO manager), so the snapshot can
process a whole backfill range in one run, in date order, writing each day's partition.
"""

from collections.abc import Iterator
from datetime import date

import dagster as dg

from lbh_platform.common.stage_report import StageReport
from lbh_platform.defs.common import OWNERS, downstream_condition, run_partitions
from lbh_platform.defs.engine import EngineResource
from lbh_platform.defs.partitions import partitions_for
from lbh_platform.defs.resources import LakeResource, TascomiApiResource
from lbh_platform.storage.lake import TASCOMI_LOCATIONS
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.tables import TascomiTable

STAGES = ("api_response", "parsed", "increment", "snapshot")
GROUP = "tascomi"

DESCRIPTIONS = {
    "api_response": (
        "Raw Tascomi `{t}` records, one row per record as JSON text plus import metadata. "
        "Partition D holds every record version first seen by the import of D: last updated "
        "from the previous import date up to the run on D (a full load when there is no "
        "earlier import), without the versions the previous import already holds."
    ),
    "parsed": (
        "Tascomi `{t}` with every JSON key as a nullable string column (status-200 rows only)."
    ),
    "increment": (
        "Tascomi `{t}` recast to typed columns by the column-type catalogue; values that "
        "cannot be cast are null and counted. The same versions as api_response: each "
        "version is in one import date's increment."
    ),
    "snapshot": (
        "Full Tascomi `{t}` table as of the snapshot date: the previous snapshot with every "
        "increment since applied by `{id}`. Query the newest `snapshot_date` for current data."
    ),
}


def asset_key(stage: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["tascomi", stage, table])


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
        kinds={"python", "parquet"},
        # A backfill range is one run that builds its days in order, not one run per day.
        backfill_policy=dg.BackfillPolicy.single_run(),
    )

    def describe(stage: str) -> str:
        return DESCRIPTIONS[stage].format(t=table.name, id=table.id_column)

    def meta(stage: str) -> dict[str, object]:
        zone, prefix, column = TASCOMI_LOCATIONS[stage]
        return {"zone": zone, "location": f"{prefix}/{table.name}/{column}=YYYYMMDD"}

    @dg.asset(
        key=asset_key("api_response", table.name),
        description=describe("api_response"),
        metadata=meta("api_response"),
        **common,
    )
    def api_response(
        context: dg.AssetExecutionContext, lake: LakeResource, tascomi_api: TascomiApiResource
    ) -> Iterator[dg.MaterializeResult]:
        store = lake.lake()
        yield from run_partitions(
            context, lambda day: [stages.ingest(store, table, day, tascomi_api.fetch)]
        )

    @dg.asset(
        key=asset_key("parsed", table.name),
        description=describe("parsed"),
        deps=[api_response],
        metadata=meta("parsed"),
        automation_condition=downstream_condition(),
        **common,
    )
    def parsed(
        context: dg.AssetExecutionContext, lake: LakeResource, engine: EngineResource
    ) -> Iterator[dg.MaterializeResult]:
        store, runner = lake.lake(), engine.get()
        yield from run_partitions(context, lambda day: [stages.parse(store, table, day, runner)])

    @dg.asset(
        key=asset_key("increment", table.name),
        description=describe("increment"),
        deps=[parsed],
        metadata=meta("increment"),
        automation_condition=downstream_condition(),
        **common,
    )
    def increment(
        context: dg.AssetExecutionContext, lake: LakeResource, engine: EngineResource
    ) -> Iterator[dg.MaterializeResult]:
        store, runner = lake.lake(), engine.get()

        def build(day: date) -> list[StageReport]:
            report = stages.refine(store, table, day, column_types, runner)
            failures = report.metadata["cast_failures_total"]
            if failures:
                context.log.warning(
                    f"{table.name} {report.partition}: {failures} values could not be cast "
                    f"and are null: {report.metadata['cast_failures_by_column']}"
                )
            return [report]

        yield from run_partitions(context, build)

    @dg.asset(
        key=asset_key("snapshot", table.name),
        description=describe("snapshot"),
        deps=[increment],
        metadata=meta("snapshot"),
        automation_condition=downstream_condition(),
        **common,
    )
    def snapshot(
        context: dg.AssetExecutionContext, lake: LakeResource, engine: EngineResource
    ) -> Iterator[dg.MaterializeResult]:
        """Each day is built on the newest earlier snapshot, so a range runs in order."""
        store, runner = lake.lake(), engine.get()
        yield from run_partitions(context, lambda day: [stages.snapshot(store, table, day, runner)])

    return [api_response, parsed, increment, snapshot]
