"""Tenure assets: initial_state (DynamoDB), events (+ quarantine), snapshot (+ deletions)."""

import functools
from collections.abc import Iterator

import dagster as dg

from lbh_platform.defs.common import OWNERS, downstream_condition, run_partitions
from lbh_platform.defs.engine import EngineResource
from lbh_platform.defs.partitions import daily_partitions
from lbh_platform.defs.resources import LakeResource
from lbh_platform.defs.tenure.resources import TenureDynamoResource
from lbh_platform.tenure import stages
from lbh_platform.tenure.locations import TABLE

GROUP = "tenure"
POOL = "tenure"
TAGS = {"source": "tenure"}


def asset_key(stage: str) -> dg.AssetKey:
    return dg.AssetKey(["tenure", stage, TABLE])


def _spec(stage: str, description: str, **extra: object) -> dg.AssetSpec:
    return dg.AssetSpec(
        asset_key(stage),
        description=description,
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "parquet"},
        tags=TAGS,
        **extra,
    )


def snapshot_condition() -> dg.AutomationCondition:
    """Run when the day's events land (blocking checks passed). A missing initial_state
    partition must not hold it back (most days have none), so initial_state is ignored here;
    a re-sync runs initial_state and snapshot together (the ``tenure_resync`` job)."""
    return downstream_condition().ignore(dg.AssetSelection.assets(asset_key("initial_state")))


def build_tenure_assets() -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=asset_key("initial_state"),
        description=(
            "The whole `TenureInformation` DynamoDB table, read with a parallel scan: canonical "
            "snake_case columns (nested members, asset, charges kept nested; null-date sentinels "
            "as null), other attributes typed or as JSON text, and import columns. Re-run at any "
            "time to re-sync."
        ),
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "parquet", "dynamodb"},
        tags=TAGS,
        pool=POOL,
    )
    def initial_state(
        context: dg.AssetExecutionContext, lake: LakeResource, tenure_dynamo: TenureDynamoResource
    ) -> Iterator[dg.MaterializeResult]:
        store = lake.lake()
        scan = functools.cache(tenure_dynamo.scan)  # one scan per run, even for a range
        yield from run_partitions(
            context, lambda day: [stages.extract_initial_state(store, day, scan)]
        )

    @dg.multi_asset(
        name="tenure_compact_events",
        specs=[
            _spec(
                "events",
                "The day's change events (one file each from the Kafka S3 sink) as one typed "
                "table in event-time order, redeliveries collapsed.",
            ),
            _spec(
                "events_quarantine",
                "Events of the day that could not be used, with file, line and reason.",
            ),
        ],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=POOL,
    )
    def events(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult]:
        store = lake.lake()
        yield from run_partitions(context, lambda day: stages.compact_events(store, day))

    condition = snapshot_condition()

    @dg.multi_asset(
        name="tenure_apply_events",
        specs=[
            _spec(
                "snapshot",
                "Every tenure as of the day: the previous snapshot (or a newer initial extract) "
                "with the pending events applied in event-time order (on the configured engine, "
                "`LBH_ENGINE`).",
                deps=[asset_key("events"), asset_key("initial_state")],
                automation_condition=condition,
            ),
            _spec(
                "deletions",
                "Tombstones (id, deleted_at, event_id) recorded while building the day's snapshot.",
                deps=[asset_key("events")],
                automation_condition=condition,
            ),
        ],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=POOL,
    )
    def snapshot(
        context: dg.AssetExecutionContext, lake: LakeResource, engine: EngineResource
    ) -> Iterator[dg.MaterializeResult]:
        store, runner = lake.lake(), engine.get()
        yield from run_partitions(context, lambda day: stages.build_snapshot(store, day, runner))

    return [initial_state, events, snapshot]
